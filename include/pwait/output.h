#pragma once
// pwait's standard output and standard error.

#include <exception>
#include <string>
#include <string_view>

#include "pwait/report.h"

namespace pwait {

/// Lines to stdout (events) and stderr (diagnostics), each flushed at once.
class StdOutput final : public Output {
 public:
  void out(std::string_view line) override;
  void err(std::string_view line) override;
};

/// The one line main prints for a failure that ends pwait: "pwait: ...",
/// with a pointer to --help for a usage error.
std::string failure_message(const std::exception& e);
/// The exit code for it: 2 for a usage error, 3 for the rest.
int failure_exit_code(const std::exception& e);

}  // namespace pwait
