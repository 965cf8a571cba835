// The step loop allocates nothing once warm: after the first forward of a batch shape, later
// forwards of that shape on the CPU backend (scratch buffers, quantized activations, attention
// work, thread pool) make no heap allocation. Counted by replacing the global operator new in
// this test binary; the count is only taken while a test turns it on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/qwen2_model.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* counted_alloc(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace ponder {
namespace {

const std::string kModel = std::string(PONDER_TEST_DATA) + "/golden/data/qwen2/model-q8_0.gguf";

TEST(ForwardAllocations, NoneOnceWarm) {
  if (!cpu_backend_available()) GTEST_SKIP() << "no AVX2 on this machine";
  auto backend = make_cpu_backend({"", 2});
  auto model = Qwen2Model::open(kModel, *backend);
  const ModelConfig& c = model->config();
  KvCache kv(c, 16, 16, DType::F16, *backend);
  // Two sequences: one decoding, one in a prefill chunk, as a serving step has them.
  Batch decode;
  decode.block_tables = {{0, 1, 2, 3}, {4, 5, 6, 7}};
  std::vector<float> logits(static_cast<size_t>(2 * c.vocab_size));
  const std::vector<int32_t> prompt = {5, 17, 200, 3, 99, 45, 12, 8};
  Batch prefill = decode;
  prefill.add_sequence_tokens(0, prompt, 0, true);
  prefill.add_sequence_tokens(1, prompt, 0, true);
  model->forward(prefill, kv, logits.data());
  int32_t pos = static_cast<int32_t>(prompt.size());
  auto step = [&] {
    Batch b = decode;  // built outside the counted region: the engine reuses its batch storage
    const int32_t t0 = 7, t1 = 9;
    b.add_sequence_tokens(0, std::span<const int32_t>(&t0, 1), pos, true);
    b.add_sequence_tokens(1, std::span<const int32_t>(&t1, 1), pos, true);
    ++pos;
    return b;
  };
  Batch warm = step();
  model->forward(warm, kv, logits.data());
  for (int i = 0; i < 3; ++i) {
    Batch b = step();
    g_allocations = 0;
    g_counting = true;
    model->forward(b, kv, logits.data());
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0) << "forward " << i << " after warm-up allocated";
  }
  EXPECT_TRUE(std::isfinite(logits[0]));
}

}  // namespace
}  // namespace ponder
