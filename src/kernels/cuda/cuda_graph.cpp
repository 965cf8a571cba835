// StepGraphs (see cuda_graph.h): record once per step shape, replay after.
#ifdef PONDER_HAVE_CUDA

#include "kernels/cuda/cuda_graph.h"

#include <cstdio>

#include "core/error.h"
#include "kernels/cuda/cuda_memory.h"

namespace ponder::cuda {
void StepGraphs::clear() {
  for (auto& [key, e] : entries_) {
    if (e.exec != nullptr) cudaGraphExecDestroy(e.exec);
  }
  entries_.clear();
}

void StepGraphs::run(const StepKey& key, uint64_t epoch, cudaStream_t stream, const std::function<void()>& step,
                     const std::function<void()>& reset) {
  Entry& e = entries_[key];
  if (e.exec != nullptr && e.epoch != epoch) {
    cudaGraphExecDestroy(e.exec);
    e.exec = nullptr;
  }
  if (e.exec == nullptr) {
    if (e.failed || e.seen_epoch != epoch) {
      e.seen_epoch = epoch;
      step();
      return;
    }
    if (!record(e, stream, step)) {
      e.failed = true;
      reset();
      step();
      return;
    }
    e.epoch = epoch;
  }
  check_cuda(cudaGraphLaunch(e.exec, stream), "cudaGraphLaunch");
  ++n_replays_;
}

// Captures `step` on `stream` into e.exec; false (stream usable again, nothing enqueued) if any
// call inside could not be captured.
bool StepGraphs::record(Entry& e, cudaStream_t stream, const std::function<void()>& step) {
  check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  bool ok = true;
  try {
    step();
  } catch (const std::exception& ex) {
    // Not expected (every op of a decode step can be captured): say so once per shape, run eagerly.
    std::fprintf(stderr, "ponder: CUDA graph recording failed, running eagerly: %s\n", ex.what());
    ok = false;
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (end != cudaSuccess) {
    cudaGetLastError();
    ok = false;
  }
  if (ok && graph != nullptr) {
    const cudaError_t inst = cudaGraphInstantiate(&e.exec, graph, 0);
    if (inst != cudaSuccess) {
      cudaGetLastError();
      e.exec = nullptr;
      ok = false;
    }
  }
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (ok) ++n_recordings_;
  return ok && e.exec != nullptr;
}

}  // namespace ponder::cuda

#endif  // PONDER_HAVE_CUDA
