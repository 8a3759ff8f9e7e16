#include "thread_pool.h"

#include <sched.h>

namespace ggufpy {
namespace model {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spin-wait step `i`: pause for the first iterations, then give the CPU away.
inline void backoff(int & i) {
    if (i < 2000) {
        cpu_relax();
        ++i;
    } else {
        sched_yield();
    }
}

constexpr int kIdleSpins = 20000;  // pause iterations (~ tens of microseconds) before a worker sleeps

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
    workers_.reserve(n_ - 1);
    for (int i = 1; i < n_; ++i) workers_.emplace_back(&ThreadPool::worker, this, i);
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto & t : workers_) t.join();
}

void ThreadPool::run(task_fn fn, void * ctx) {
    if (n_ == 1) {
        fn(ctx, 0);
        return;
    }
    fn_ = fn;
    ctx_ = ctx;
    finished_.store(0, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(ctx, 0);
    int spins = 0;
    while (finished_.load(std::memory_order_acquire) != n_ - 1) backoff(spins);
}

void ThreadPool::barrier() {
    if (n_ == 1) return;
    const uint32_t phase = phase_.load(std::memory_order_relaxed);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
        arrived_.store(0, std::memory_order_relaxed);
        phase_.store(phase + 1, std::memory_order_release);
        return;
    }
    int spins = 0;
    while (phase_.load(std::memory_order_acquire) == phase) backoff(spins);
}

void ThreadPool::worker(int ith) {
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        uint64_t g;
        while ((g = generation_.load(std::memory_order_acquire)) == seen && spins < kIdleSpins) {
            cpu_relax();
            ++spins;
        }
        if (g == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            g = generation_.load(std::memory_order_acquire);
        }
        seen = g;
        if (stop_) return;
        fn_(ctx_, ith);
        finished_.fetch_add(1, std::memory_order_acq_rel);
    }
}

}  // namespace model
}  // namespace ggufpy
