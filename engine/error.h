// dg::Error and the helpers every op uses to reject bad input. Errors name the op and the shapes,
// dtypes or devices involved, e.g. "matmul: [32,64] @ [32,10]: inner dimensions 64 and 32 differ",
// so a user can find the mistake from the message alone. Checks on user input are always on; no
// assert-only checks.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dg {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) [[unlikely]]
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dg
