// greedy_logits MODEL PROMPT_IDS N_STEPS OUT: runs a comma-separated token-id prompt through
// Ponder, then N_STEPS greedy decode steps, and writes OUT.json ({"tokens": [...]}: the generated
// ids) and OUT.f32 (the logits that chose each of them, (N_STEPS, vocab) float32). A test tool for
// comparing with other engines; `ponder run` is the user-facing generator. The backend is the
// fastest one here, or PONDER_TEST_BACKEND (ref, cpu, cuda).
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/block_pool.h"
#include "kernels/backend.h"
#include "kernels/registry.h"
#include "model/qwen2_model.h"

int main(int argc, char** argv) {
  using namespace ponder;
  if (argc != 5) {
    fmt::print(stderr, "usage: greedy_logits MODEL PROMPT_IDS N_STEPS OUT\n");
    return 2;
  }
  try {
    // The fastest backend here unless named: the registry lists them slowest first (ref, cpu, cuda).
    const char* named = std::getenv("PONDER_TEST_BACKEND");
    auto backend = make_backend(named != nullptr ? named : backend_names().back());
    auto model = Qwen2Model::open(argv[1], *backend);
    std::vector<int32_t> prompt;
    std::stringstream ids(argv[2]);
    for (std::string id; std::getline(ids, id, ',');) prompt.push_back(std::stoi(id));
    const int n_steps = std::stoi(argv[3]);
    PONDER_CHECK(!prompt.empty() && n_steps > 0, "need a prompt and at least one step");

    const int64_t vocab = model->config().vocab_size;
    const int32_t block_size = 16;
    const int64_t n_positions = static_cast<int64_t>(prompt.size()) + n_steps;
    const auto n_blocks = static_cast<int32_t>((n_positions + block_size - 1) / block_size);
    KvCacheManager manager(n_blocks, block_size);
    KvCache kv(model->config(), n_blocks, block_size, DType::F32, model->backend());
    PONDER_CHECK(manager.ensure(0, n_positions), "KV cache too small");

    std::vector<float> logits(static_cast<size_t>(vocab));
    std::vector<float> all_logits;
    std::vector<int32_t> generated;
    std::vector<int32_t> next = prompt;
    int32_t position = 0;
    for (int step = 0; step < n_steps; ++step) {
      Batch batch;
      batch.block_tables.push_back(manager.block_table(0));
      batch.add_sequence_tokens(0, next, position, true);
      model->forward(batch, kv, logits.data());
      position += static_cast<int32_t>(next.size());
      const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      generated.push_back(best);
      all_logits.insert(all_logits.end(), logits.begin(), logits.end());
      next = {best};
    }
    std::ofstream(std::string(argv[4]) + ".json") << fmt::format("{{\"tokens\": [{}]}}\n", fmt::join(generated, ", "));
    std::ofstream(std::string(argv[4]) + ".f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(all_logits.data()),
               static_cast<std::streamsize>(all_logits.size() * sizeof(float)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "greedy_logits: {}\n", e.what());
    return 1;
  }
  return 0;
}
