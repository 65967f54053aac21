// Fuzz target: the command line (argument and duration parsing). The input
// is argv, its arguments separated by NUL bytes. Every refusal must be one
// clean line in pwait's words.

#include <string>
#include <vector>

#include "fuzz.h"
#include "pwait/error.h"
#include "pwait/options.h"
#include "pwait/output.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pwait;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args{"pwait"};
  for (std::size_t at = 0; args.size() < 64 && at <= input.size();) {
    std::size_t end = std::min(input.find('\0', at), input.size());
    args.emplace_back(input.substr(at, end - at));
    at = end + 1;
  }
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  try {
    parse_options(static_cast<int>(argv.size()), argv.data(), "");
  } catch (const UsageError& e) {
    fuzz::require_one_clean_line(failure_message(e));
  }
  for (auto& a : args) {
    try {
      Duration d = parse_duration(a, "timeout");
      fuzz::require(d >= Duration::zero());
    } catch (const UsageError& e) {
      fuzz::require_one_clean_line(failure_message(e));
    }
  }
  return 0;
}
