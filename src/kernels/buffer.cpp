// Buffer: RAII over Backend::alloc / dealloc.
#include <utility>

#include "kernels/backend.h"

namespace ponder {

Buffer::Buffer(Backend* backend, size_t bytes) : backend_(backend), data_(backend->alloc(bytes)), bytes_(bytes) {}

Buffer::~Buffer() {
  if (data_ != nullptr) backend_->dealloc(data_);
}

Buffer::Buffer(Buffer&& other) noexcept
    : backend_(other.backend_), data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) backend_->dealloc(data_);
    backend_ = other.backend_;
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Buffer Backend::upload(const std::vector<float>& host) {
  Buffer b(this, host.size() * sizeof(float));
  if (!host.empty()) copy_to_backend(b.data(), host.data(), b.bytes());
  return b;
}

}  // namespace ponder
