#pragma once
// The command line, parsed and validated. Only src/options.cc knows CLI11.

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/pidfile.h"
#include "pwait/select.h"

namespace pwait {

struct Options {
  std::vector<Named> operands;        ///< in the order given (duplicates kept: pinning drops them)
  std::vector<std::string> pidfiles;  ///< read when pwait runs, within its deadline
  std::size_t count = 0;              ///< targets that must end; 0 means all
  bool reaped = false;                ///< -r: a target ends when it is reaped
  bool exited_ok = false;             ///< -e: a missing PID counts as already ended
  std::optional<Duration> timeout;    ///< none for -t 0
  std::string backend = "auto";
  bool list_backends = false;
  std::optional<Duration> interval;
  bool verbose = false;
  bool json = false;
  bool exit_status = false;  ///< -x
  Criteria criteria;         ///< -m, --euid, ...: selection as pgrep
  bool lock_pidfiles = false;  ///< -L: a pidfile must be locked by its daemon
  bool print_handles = false;  ///< --print-handles: print PID:INODE for each target and exit
  std::vector<std::string> cgroups;  ///< --cgroup: whole cgroups as targets
  std::vector<pid_t> cgroup_of;      ///< --cgroup-of: the cgroups these processes are in
  bool tree = false;                 ///< --tree: a PID target ends with its last descendant
  int signal = 0;                           ///< -s: sent to the targets left at the timeout / fail-fast (0: none)
  std::optional<Duration> kill_after;       ///< -k: SIGKILL to those left this long after
  bool fail_fast = false;                   ///< --fail-fast: return at the first failure
  bool print_remaining = false;             ///< -p: the PIDs left, on stdout, ascending
  bool progress = false;                    ///< --progress: a status line on a terminal
};

/// A signal as kill -l knows it: TERM, SIGTERM, term, 15, RTMIN+2. Throws
/// UsageError naming `text` otherwise.
int parse_signal(std::string_view text, std::string_view what);

/// What parse_options decided: run with the options, or print `output`
/// (help, version) and exit 0.
struct ParseResult {
  std::optional<Options> options;
  std::string output;
};

/// Parses argv. `default_backend` is $PWAIT_BACKEND (empty when unset).
/// Bad input throws UsageError in pwait's own words, naming the value.
ParseResult parse_options(int argc, const char* const* argv, std::string_view default_backend);

/// The largest timeout: 10^8 s (about 3 years), as FreeBSD's pwait.
inline constexpr double kMaxTimeoutSeconds = 1e8;

/// Parses a duration: 10, 1.5, 1.5s, 250ms, 2m, 1h, 1d (no unit: seconds).
/// `what` names the option in the message of the UsageError it throws.
Duration parse_duration(std::string_view text, std::string_view what);

}  // namespace pwait
