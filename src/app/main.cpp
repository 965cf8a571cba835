// The ponder command line: one subcommand per file in src/app/, registered here.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>

#include "app/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"Ponder: run reasoning models of the QwQ-32B family locally"};
  app.set_version_flag("--version", "ponder 0.1.0");
  app.require_subcommand(1);
  ponder::app::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ponder::Error& e) {
    fmt::print(stderr, "ponder: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
