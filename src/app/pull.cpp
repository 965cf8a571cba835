// `ponder pull OWNER/REPO[:QUANT]` downloads a GGUF model from a Hugging Face-compatible hub into
// the cache; `ponder list` shows the cached models.
#include <fmt/core.h>

#include <memory>

#include "app/commands.h"
#include "app/progress.h"
#include "core/error.h"
#include "io/model_cache.h"

namespace ponder::app {

void register_pull(CLI::App& app) {
  auto spec = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("pull", "Download a GGUF model from Hugging Face into the cache");
  cmd->add_option("model", *spec, "OWNER/REPO[:QUANT], e.g. Qwen/QwQ-32B-GGUF:Q4_K_M")->required();
  cmd->callback([spec] {
    const auto ref = parse_model_ref(*spec);
    PONDER_CHECK(ref.has_value(), "'{}' is not a model name of the form OWNER/REPO[:QUANT]", *spec);
    std::unique_ptr<ProgressBar> bar;
    std::string current;
    PullOptions options;
    options.progress = [&](const PullProgress& p) {
      if (p.file != current) {
        if (bar) bar->finish();
        current = p.file;
        bar = std::make_unique<ProgressBar>(p.file);
      }
      bar->update(p.done_bytes, p.total_bytes);
    };
    const std::string path = pull_model(*ref, options);
    if (bar) bar->finish();
    fmt::print("{}\n", path);
  });
}

void register_list(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("list", "List the models in the cache");
  cmd->callback([] {
    const auto models = list_cached_models();
    if (models.empty()) {
      fmt::print("no models in {} (run scripts/setup.sh for the default model, or ponder pull)\n", models_dir());
      return;
    }
    for (const CachedModel& m : models) fmt::print("{:<60} {:>10}  {}\n", m.name, human_bytes(m.bytes), m.path);
  });
}

}  // namespace ponder::app
