// Helpers shared by the io tests: a fresh temporary folder per test, file writing, an assertion
// that a call throws ponder::Error mentioning a substring, and RawGguf, a byte builder that can
// write the malformed GGUF files GgufWriter refuses to produce.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace ponder::testing {

// A folder under the system temp dir, removed (with its contents) when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ponder_io_XXXXXX").string();
    const char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out) throw std::runtime_error("cannot write " + path);
}
inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file(path, bytes.data(), bytes.size());
}
inline void write_file(const std::string& path, const std::string& text) { write_file(path, text.data(), text.size()); }

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `fn`; returns the ponder::Error message, or a marker that says what happened instead.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ponder::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a ponder::Error: ") + e.what() + ">";
  }
  return "<no error>";
}

}  // namespace ponder::testing

// Asserts that `stmt` throws ponder::Error whose message contains `substr`.
#define EXPECT_PONDER_ERROR(stmt, substr) \
  EXPECT_THAT_ERROR_CONTAINS(::ponder::testing::error_of([&] { (void)(stmt); }), substr)
#define EXPECT_THAT_ERROR_CONTAINS(message, substr)                                            \
  do {                                                                                         \
    const std::string ponder_msg_ = (message);                                                 \
    EXPECT_NE(ponder_msg_.find(substr), std::string::npos)                                     \
        << "expected a ponder::Error containing \"" << (substr) << "\", got: " << ponder_msg_; \
  } while (0)

namespace ponder::testing {

// Little-endian GGUF bytes, field by field, with no checks: tests build hostile files with it.
class RawGguf {
 public:
  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& i32(int32_t v) { return put(v); }
  RawGguf& f32(float v) { return put(v); }
  RawGguf& str(const std::string& s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes_.insert(bytes_.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  RawGguf& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  RawGguf& kv_i32(const std::string& key, int32_t v) { return str(key).u32(5).i32(v); }
  RawGguf& kv_string(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  // dims innermost-first, as in the file.
  RawGguf& tensor_info(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes_.insert(bytes_.end(), n, 0);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  template <class T>
  RawGguf& put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes_.insert(bytes_.end(), b, b + sizeof(T));
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

}  // namespace ponder::testing
