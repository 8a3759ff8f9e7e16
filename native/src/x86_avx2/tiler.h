// Cover an nr x nc block of (weight row, token) dot products with tiles of at most RMAX x CMAX, using
// smaller instantiations of the same tile at the edges. Shared by the legacy and K-quant tile kernels.
//
// Tile<R, C>::run(n, w, w_stride, a, a_stride, out, out_stride) computes an R x C tile (kernels.h mat_dot
// layout: out[c * out_stride + r]).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ggufpy {

template <template <int, int> class Tile, int RMAX, int CMAX>
struct tiler {
    template <int R, int C>
    static void run_rc(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os, int nr, int nc) {
        if constexpr (R > 1) {
            if (nr < R) return run_rc<R - 1, C>(n, w, ws, a, as, out, os, nr, nc);
        }
        if constexpr (C > 1) {
            if (nc < C) return run_rc<R, C - 1>(n, w, ws, a, as, out, os, nr, nc);
        }
        Tile<R, C>::run(n, w, ws, a, as, out, os);
    }
    static void run(size_t n, const void * vw, size_t ws, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
        const uint8_t * w = (const uint8_t *)vw;
        const uint8_t * a = (const uint8_t *)va;
        for (int r0 = 0; r0 < nr; r0 += RMAX)
            for (int c0 = 0; c0 < nc; c0 += CMAX)
                run_rc<RMAX, CMAX>(n, w + (size_t)r0 * ws, ws, a + (size_t)c0 * as, as, out + (size_t)c0 * os + r0, os,
                                   nr - r0 < RMAX ? nr - r0 : RMAX, nc - c0 < CMAX ? nc - c0 : CMAX);
    }
};

}  // namespace ggufpy
