// A persistent pool of worker threads for the forward pass (ggml's threadpool idea, minus the graph):
// run(fn, ctx) executes fn(ctx, ith) on all n threads at once, the caller being thread 0, and returns
// when every thread has finished; inside fn, barrier() separates ops. Nothing is allocated per run.
//
// Waiting spins briefly (pause), then yields the CPU (sched_yield), because a core-count-sized pool on a
// shared machine must not burn the time slice of the thread it waits for; idle workers between runs
// sleep on a condition variable after a short spin.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ggufpy {
namespace model {

class ThreadPool {
public:
    using task_fn = void (*)(void * ctx, int ith);

    explicit ThreadPool(int n_threads);  // n_threads >= 1; n_threads - 1 workers are started
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int size() const { return n_; }
    // Run fn(ctx, ith) for ith = 0..n-1 (ith 0 on the calling thread); returns when all are done.
    // Not reentrant: one run at a time (the owning model serialises its calls).
    void run(task_fn fn, void * ctx);
    // All n threads must call it the same number of times inside a run.
    void barrier();

private:
    void worker(int ith);

    int n_;
    std::vector<std::thread> workers_;
    task_fn fn_ = nullptr;
    void * ctx_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> finished_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    // barrier state on separate cache lines
    alignas(64) std::atomic<int> arrived_{0};
    alignas(64) std::atomic<uint32_t> phase_{0};
};

}  // namespace model
}  // namespace ggufpy
