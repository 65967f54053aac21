#pragma once
// One error convention: unexpected failures are std::system_error thrown
// through throw_errno(), whose message names the call and its object
// ("pidfd_open 1234: Too many open files"). Expected outcomes (a target
// already gone, a backend unavailable, a timeout) are values, not exceptions.

#include <stdexcept>
#include <string>
#include <string_view>

namespace pwait {

/// Throws std::system_error for `errno` with the message "CALL OBJECT".
[[noreturn]] void throw_errno(std::string_view call, std::string_view object = {});
/// Throws std::system_error for error number `err` with the message "CALL OBJECT".
[[noreturn]] void throw_error(int err, std::string_view call, std::string_view object = {});

/// Bad input from the user: exit code 2, the message printed as is, then
/// one hint.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
  std::string hint = "see 'pwait --help'";
};

/// A target or the requested backend cannot be watched: exit code 3.
struct WatchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace pwait
