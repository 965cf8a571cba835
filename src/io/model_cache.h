// The local model cache and downloads from a Hugging Face-compatible hub.
//
// A model is named by a path (a .gguf file, safetensors file or Hugging Face folder), by a hub
// name "OWNER/REPO[:QUANT]" already pulled into the cache, or by nothing (the default model).
// Cache layout: $PONDER_HOME/models/OWNER/REPO/FILE.gguf ($PONDER_HOME defaults to
// ~/.cache/ponder). A download goes to FILE.gguf.part and is renamed only after its size and
// SHA-256 match what the hub's file listing says, so a file in the cache is always whole; an
// interrupted download resumes from the .part file with an HTTP range request.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

struct ModelRef {
  std::string owner;
  std::string repo;
  std::string quant;  // e.g. "Q4_K_M"; empty: pick the default quant

  std::string name() const;  // "OWNER/REPO[:QUANT]"
};

// Parses "OWNER/REPO[:QUANT]"; nullopt if `spec` does not have that shape. Owner and repo may hold
// letters, digits, '-', '_' and '.', and may not be "." or "..".
std::optional<ModelRef> parse_model_ref(std::string_view spec);

std::string ponder_home();
std::string models_dir();
// $PONDER_HF_ENDPOINT (for mirrors and tests) or https://huggingface.co.
std::string hub_endpoint();
// The default model's file, fetched by scripts/setup.sh (tools/fetch_default_model.py).
std::string default_model_path();

struct PullProgress {
  std::string file;
  uint64_t done_bytes = 0;
  uint64_t total_bytes = 0;
};

struct PullOptions {
  std::function<void(const PullProgress&)> progress;  // called often; may be empty
  int max_attempts = 5;                               // resumed transfers per file before giving up
};

// Downloads the GGUF file(s) of `ref` into the cache (resuming a .part file if present) and
// returns the path of the model file. Throws ponder::Error naming the repo, file, URL or HTTP
// status for a missing model or file, no GGUF matching the quant, a failed transfer, or a size or
// checksum mismatch (the corrupt download is deleted).
std::string pull_model(const ModelRef& ref, const PullOptions& options = {});

// Maps a user's model argument to a file or folder: an existing path as is, a pulled hub name to
// its cache file, an empty spec to the default model. Throws ponder::Error saying what to run when
// the model is not there.
std::string resolve_model(std::string_view spec);

struct CachedModel {
  std::string name;  // "OWNER/REPO:FILE" or "default"
  std::string path;
  uint64_t bytes = 0;
};
std::vector<CachedModel> list_cached_models();

}  // namespace ponder
