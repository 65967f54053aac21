#pragma once
// What every fuzz target shares: the libFuzzer entry point, and checks that
// end the run (a crash libFuzzer records) when a property fails.

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace pwait::fuzz {

/// Stops the run when `ok` is false: a finding.
inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

/// A message pwait prints for bad input: one line of printable ASCII, bounded.
inline void require_one_clean_line(std::string_view message, std::size_t max = 600) {
  require(message.size() <= max);
  for (char c : message) require(c >= 0x20 && c < 0x7f);
}

}  // namespace pwait::fuzz
