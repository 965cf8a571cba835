#include "kernels/registry.h"

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"

#ifdef PONDER_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace ponder {

std::vector<std::string> backend_names() {
  std::vector<std::string> names = {"ref"};
  if (cpu_backend_available()) names.emplace_back("cpu");
#ifdef PONDER_HAVE_CUDA
  if (cuda_device_available()) names.emplace_back("cuda");
#endif
  return names;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "ref") return make_ref_backend();
  if (name == "cpu" && cpu_backend_available()) return make_cpu_backend();
#ifdef PONDER_HAVE_CUDA
  if (name == "cuda" && cuda_device_available()) return make_cuda_backend();
#endif
  fail("backend '{}' is not available here (available: {})", name, fmt::join(backend_names(), ", "));
}

}  // namespace ponder
