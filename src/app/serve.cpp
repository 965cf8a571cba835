// `ponder serve [MODEL]`: the OpenAI-compatible HTTP server (src/server): one engine step loop
// shared by every client, on the address and limits given by the flags. SIGINT / SIGTERM stop
// new connections, let the requests in flight finish (up to --shutdown-grace seconds, then they
// are cancelled), and exit 0.
#include <fmt/core.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "app/commands.h"
#include "app/session.h"
#include "core/error.h"
#include "server/engine_loop.h"
#include "server/http_server.h"
#include "server/openai_api.h"

namespace ponder::app {
namespace {

struct ServeFlags {
  GenerateFlags gen;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string api_key_file;
  std::string alias;
  int parallel = 32;
  int max_queue = 256;
  int batch_tokens = 512;
  int timeout_s = 600;
  int shutdown_grace_s = 30;
  int64_t max_body_mib = 8;
  bool no_prefix_cache = false;
};

std::string read_key_file(const std::string& path) {
  std::ifstream in(path);
  PONDER_CHECK(in.good(), "cannot read the API key file {}", path);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  PONDER_CHECK(!key.empty(), "the API key file {} is empty", path);
  return key;
}

void serve(ServeFlags& f) {
  PONDER_CHECK(f.api_key.empty() || f.api_key_file.empty(), "give --api-key or --api-key-file, not both");
  const std::string api_key = f.api_key_file.empty() ? f.api_key : read_key_file(f.api_key_file);

  EngineOptions eo;
  eo.max_running = f.parallel;
  eo.max_batch_tokens = f.batch_tokens;
  eo.prefix_cache = !f.no_prefix_cache;
  const std::unique_ptr<Session> session = Session::open(f.gen, eo);
  const ChatModel& chat = *session->chat;
  const auto& kv = session->engine->kv_manager();
  const int64_t capacity = static_cast<int64_t>(kv.pool().n_blocks()) * kv.block_size();

  server::EngineLoop loop(*session->engine, f.max_queue);
  server::ApiOptions api_options;
  api_options.model_id = f.alias.empty() ? std::filesystem::path(chat.model().store().path()).stem().string() : f.alias;
  api_options.api_key = api_key;
  api_options.context_tokens = capacity;
  server::OpenAiApi api(chat, loop, api_options);

  server::HttpServerOptions http;
  http.host = f.host;
  http.port = static_cast<uint16_t>(f.port);
  http.io_timeout = std::chrono::seconds(f.timeout_s);
  http.max_body_bytes = static_cast<size_t>(f.max_body_mib) << 20;
  auto http_server = std::make_unique<server::HttpServer>(http, [&api](const server::HttpRequest& r) { return api.handle(r); });

  fmt::print("ponder serve: {} ({}) with {} backend, {} tokens of {} KV cache, {} requests at once\n",
             api_options.model_id, chat.reasoning() ? "reasoning" : "chat", session->backend->name(), capacity,
             f.gen.kv_type, f.parallel);
  const std::string url = fmt::format("http://{}:{}", f.host, http_server->port());
  fmt::print("listening on {}{}\n", url, api_key.empty() ? "" : " (API key required)");
  fmt::print("  chat in a browser at {}/, point OpenAI clients at {}/v1\n", url, url);
  std::fflush(stdout);

  std::thread drainer;
  http_server->run([&] {
    const server::EngineSnapshot s = loop.snapshot();
    fmt::print(stderr, "ponder serve: shutting down; finishing {} requests in flight (at most {} s)\n", s.n_jobs,
               f.shutdown_grace_s);
    drainer = std::thread([&] {
      loop.drain(std::chrono::seconds(f.shutdown_grace_s));
      // Every answer is complete now; clients get a while to read what is still being written.
      http_server->stop(std::chrono::seconds(std::max(f.shutdown_grace_s, 10)));
    });
  });
  loop.drain(std::chrono::milliseconds(0));  // if run() ended early (a second signal), cancel the rest
  if (drainer.joinable()) drainer.join();
  // Shutting down: a further signal must not kill the process before it exits 0. (The server's
  // signal set catches them until it goes, and puts back the default action when it does.)
  http_server.reset();
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  fmt::print(stderr, "ponder serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat and completions, streamed)");
  cmd->add_option("model", f->gen.model, "model: a .gguf file, a Hugging Face folder, a pulled name, or default");
  add_model_flags(*cmd, f->gen);  // --ctx-size is the KV cache shared by all requests
  cmd->add_option("--host", f->host, "address to listen on");
  cmd->add_option("--port", f->port, "port to listen on (0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", f->api_key, "require 'Authorization: Bearer KEY'");
  cmd->add_option("--api-key-file", f->api_key_file, "read the API key from the first line of a file");
  cmd->add_option("--alias", f->alias, "model name to answer to (default: the file name)");
  cmd->add_option("--parallel", f->parallel, "requests decoding at once")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-queue", f->max_queue, "requests waiting beyond --parallel before 429")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--batch-tokens", f->batch_tokens, "tokens per forward pass (prefill chunk size)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--timeout", f->timeout_s, "seconds a client has to send a request and to take each write")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--shutdown-grace", f->shutdown_grace_s, "seconds requests in flight may run after SIGTERM")
      ->check(CLI::Range(0, 86400));
  cmd->add_option("--max-body-mib", f->max_body_mib, "largest request body in MiB (413 above)")->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-prefix-cache", f->no_prefix_cache, "do not reuse the KV cache of shared prompt prefixes");
  f->gen.ctx = 16384;
  cmd->callback([f] { serve(*f); });
}

}  // namespace ponder::app
