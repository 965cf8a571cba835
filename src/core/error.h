// Errors. Ponder reports bad input (a file, a request, an argument) by throwing ponder::Error with a
// message that names the thing and the limit it broke; callers at the edge (CLI, server) print it.
// Nothing aborts the process except a bug (an assert). Checks are cheap and always on.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace ponder {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ponder

// PONDER_CHECK(cond, "format", args...): throws ponder::Error with the formatted message if cond is false.
#define PONDER_CHECK(cond, ...)    \
  do {                             \
    if (!(cond)) [[unlikely]] {    \
      ::ponder::fail(__VA_ARGS__); \
    }                              \
  } while (0)
