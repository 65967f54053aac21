// pwait: wait for any process to end and say how it ended. See pwait(1).

#include <cstdio>
#include <cstdlib>
#include <system_error>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/options.h"
#include "pwait/run.h"

int main(int argc, char** argv) {
  using namespace pwait;
  auto started = Clock::now();
  try {
    // Parsing may block reading a pidfile (stdin, a FIFO): a SIGINT then
    // ends pwait as usual. Nothing is watched yet.
    const char* env = std::getenv("PWAIT_BACKEND");
    ParseResult parsed = parse_options(argc, argv, env ? env : "");
    if (!parsed.options) {
      if (!parsed.output.empty()) fmt::print("{}", parsed.output);
      if (!parsed.error.empty()) fmt::print(stderr, "{}\n", parsed.error);
      return parsed.exit_code;
    }
    // Before anything is watched: a SIGINT must reach the cleanup, never cut it short.
    block_stop_signals();
    if (parsed.options->list_backends) {
      list_backends();
      return exit_code::ok;
    }
    int code = run(*parsed.options, started);
#ifndef __SANITIZE_ADDRESS__  // LeakSanitizer checks at exit: let it
    // Every target is released (run() destroyed the waiter): once the
    // output is flushed the kernel frees the rest. Skipping the destructors
    // and exit handlers keeps the path from the target's end to pwait's short.
    std::fflush(nullptr);
    std::_Exit(code);
#endif
    return code;
  } catch (const UsageError& e) {
    fmt::print(stderr, "pwait: {}\n", e.what());
    return exit_code::usage;
  } catch (const WatchError& e) {
    fmt::print(stderr, "pwait: {}\n", e.what());
    return exit_code::unwatchable;
  } catch (const std::system_error& e) {
    fmt::print(stderr, "pwait: {}\n", e.what());
    return exit_code::unwatchable;
  } catch (const std::exception& e) {
    fmt::print(stderr, "pwait: {}\n", e.what());
    return exit_code::unwatchable;
  }
}
