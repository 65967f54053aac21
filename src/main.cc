// pwait: wait for any process to end and say how it ended. See pwait(1).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string_view>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/options.h"
#include "pwait/output.h"
#include "pwait/run.h"

int main(int argc, char** argv) {
  using namespace pwait;
  auto started = Clock::now();
  StdOutput output;
  try {
    const char* env = std::getenv("PWAIT_BACKEND");
    ParseResult parsed = parse_options(argc, argv, env ? env : "");
    if (!parsed.options) {
      std::string_view text = parsed.output;
      output.out(text.substr(0, text.size() - 1));  // it ends with a newline
      if (int err = output.stdout_error()) {
        output.err(fmt::format("pwait: write to standard output: {}", strerror(err)));
        return exit_code::unwatchable;
      }
      return exit_code::ok;
    }
    if (parsed.options->list_backends) {
      list_backends(*parsed.options, output);
      return exit_code::ok;
    }
    int code = run(*parsed.options, started, output);
#ifndef __SANITIZE_ADDRESS__  // LeakSanitizer checks at exit: let it
    // Every target is released (run() destroyed the waiter): once the
    // output is flushed the kernel frees the rest. Skipping the destructors
    // and exit handlers keeps the path from the target's end to pwait's short.
    std::fflush(nullptr);
    std::_Exit(code);
#endif
    return code;
  } catch (const std::exception& e) {
    output.err(failure_message(e));
    return failure_exit_code(e);
  }
}
