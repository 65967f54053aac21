// Fuzz target: decoding /proc/PID/stat and /proc/PID/status, whose command
// name may hold spaces, parentheses, newlines, any byte.

#include "fuzz.h"
#include "pwait/proc.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pwait;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto st = parse_proc_stat(text)) fuzz::require(st->state != '?');
  if (auto st = parse_proc_status(text)) fuzz::require(st->name.size() <= size);
  return 0;
}
