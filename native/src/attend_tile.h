// The ISA-independent part of the attend_tile kernels (x86_avx512/attention.cpp, x86_avx2/attention.cpp): the
// scratch layout and the scalar prologue and epilogue around their vector loops. In an anonymous namespace
// because each kernel file is compiled with its own ISA's flags (no shared inline copies across them).
#pragma once

#include <cstddef>
#include <cstring>

#include "ggufpy/kernels.h"

namespace ggufpy {
namespace {

// Scratch (kernels.h attend_tile_scratch_floats(hd) floats; tile row r is lane r of a row of kAttendTileRows):
//   QT[d][32] the query rows transposed (padding lanes zero), OT[d][32] the output accumulators transposed,
//   PT[j][32] the block's scores then probabilities, Kf[j][hd] / Vf[j][hd] the block's K / V rows as float32.
struct attend_scratch {
    static constexpr int R = kAttendTileRows;
    size_t hd;
    float *QT, *OT, *PT, *Kf, *Vf;
    attend_scratch(float * s, size_t hd_)
        : hd(hd_), QT(s), OT(QT + hd * R), PT(OT + hd * R), Kf(PT + (size_t)kAttendTileKeys * R), Vf(Kf + (size_t)kAttendTileKeys * hd) {}

    // OT = 0, QT = the nq query rows transposed (other lanes 0), nk = n_keys padded with 0 to the tile;
    // returns the most keys any row sees.
    int begin(int nq, const float * const * q, const int * n_keys, int * nk) const {
        int kmax = 0;
        for (int r = 0; r < R; ++r) {
            nk[r] = r < nq ? n_keys[r] : 0;
            if (nk[r] > kmax) kmax = nk[r];
        }
        std::memset(QT, 0, sizeof(float) * hd * R);
        std::memset(OT, 0, sizeof(float) * hd * R);
        for (int r = 0; r < nq; ++r)
            for (size_t d = 0; d < hd; ++d) QT[d * R + r] = q[r][d];
        return kmax;
    }

    // out[r][d] = OT[d][r] * inv[r] for the nq rows.
    void finish(int nq, const float * inv, float * const * out) const {
        for (int r = 0; r < nq; ++r)
            for (size_t d = 0; d < hd; ++d) out[r][d] = OT[d * R + r] * inv[r];
    }
};

}  // namespace
}  // namespace ggufpy
