#pragma once
// The command line, parsed and validated. Only src/options.cc knows CLI11.

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pwait/event_loop.h"

namespace pwait {

struct Options {
  std::vector<pid_t> pids;        ///< distinct, in the order first given
  std::size_t count = 0;          ///< targets that must end; 0 means all
  bool reaped = false;            ///< -r: a target ends when it is reaped
  bool exited_ok = false;         ///< -e: a missing PID counts as already ended
  std::optional<Duration> timeout;
  std::string backend = "auto";
  bool list_backends = false;
  std::optional<Duration> interval;
  bool verbose = false;
  bool json = false;
  bool exit_status = false;       ///< -x
};

/// What parse_options decided: run with the options, or print `output`
/// (help, version) and exit 0.
struct ParseResult {
  std::optional<Options> options;
  std::string output;
};

/// Parses argv. `default_backend` is $PWAIT_BACKEND (empty when unset).
/// Bad input throws UsageError, whatever CLI11 thought of it.
ParseResult parse_options(int argc, const char* const* argv, std::string_view default_backend);

// The value parsers, exposed for unit tests. Each throws UsageError with a
// message naming the bad value.

/// A decimal PID, 1..pid_max.
pid_t parse_pid(std::string_view text);
/// 10, 1.5, 1.5s, 250ms, 2m, 1h (no unit: seconds). `what` names the option.
Duration parse_duration(std::string_view text, std::string_view what);
/// The whitespace-separated PIDs in `content`, read from `name`.
std::vector<pid_t> parse_pid_list(std::string_view content, std::string_view name);
/// Reads a pidfile ('-' is stdin) and parses it.
std::vector<pid_t> read_pidfile(const std::string& path);

}  // namespace pwait
