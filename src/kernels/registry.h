// The backends compiled into this build and usable on this machine, by name. "ref" is always
// there; "cuda" only in a CUDA build with a device present. Tests loop over backend_names() so
// one test body runs on every backend, and absent devices are simply not listed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.h"

namespace ponder {

std::vector<std::string> backend_names();
// Throws ponder::Error naming the backend and the ones available if it cannot be made here.
std::unique_ptr<Backend> make_backend(std::string_view name);

}  // namespace ponder
