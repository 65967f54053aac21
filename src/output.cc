#include "pwait/output.h"

#include <cstdio>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"

namespace pwait {

void StdOutput::out(std::string_view line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

void StdOutput::err(std::string_view line) { fmt::print(stderr, "{}\n", line); }

std::string failure_message(const std::exception& e) {
  if (auto* usage = dynamic_cast<const UsageError*>(&e)) return fmt::format("pwait: {} ({})", e.what(), usage->hint);
  return fmt::format("pwait: {}", e.what());
}

int failure_exit_code(const std::exception& e) {
  return dynamic_cast<const UsageError*>(&e) ? exit_code::usage : exit_code::unwatchable;
}

}  // namespace pwait
