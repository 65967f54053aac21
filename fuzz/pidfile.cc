// Fuzz target: pidfile parsing, in chunks as it arrives (the first byte
// chooses the chunk size). Every target it yields is a valid PID; every
// refusal is one clean line naming the file and the line.

#include <string>

#include "fuzz.h"
#include "pwait/error.h"
#include "pwait/pidfile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pwait;
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 16;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  PidfileParser parser("fuzz.pid");
  auto add = [](const Named& n) { fuzz::require(n.pid > 0); };
  try {
    for (std::size_t at = 0; at < text.size(); at += chunk) parser.feed(text.substr(at, chunk), add);
    parser.finish(add);
  } catch (const UsageError& e) {
    std::string what = e.what();
    fuzz::require_one_clean_line(what);
    fuzz::require(what.rfind("pidfile 'fuzz.pid'", 0) == 0);
  }
  return 0;
}
