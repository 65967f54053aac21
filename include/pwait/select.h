#pragma once
// Naming targets the way pgrep does (issue 12): by name, user, group,
// parent, process group, session, terminal, age. One pass over /proc reads
// only what the criteria need; each match is then pinned and checked again
// through the pin, so a PID reused between the scan and the pin never
// becomes a target. Never pwait itself, never one of its ancestors.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/targets.h"

namespace pwait {

/// The criteria, with pgrep's meanings; all that are given must hold.
struct Criteria {
  std::optional<std::string> pattern;  ///< -m: an extended regular expression
  bool full = false;                   ///< --full: match the whole command line, not the name
  bool exact = false;                  ///< --exact: the pattern matches all of it
  bool ignore_case = false;            ///< --ignore-case
  std::vector<uid_t> euids;            ///< --euid (pgrep -u)
  std::vector<uid_t> uids;             ///< --uid (pgrep -U)
  std::vector<gid_t> gids;             ///< --group (pgrep -G): the real group
  std::vector<pid_t> parents;          ///< --parent (pgrep -P)
  std::vector<pid_t> pgroups;          ///< --pgroup (pgrep -g)
  std::vector<pid_t> sessions;         ///< --session (pgrep -s)
  std::vector<int> terminals;          ///< --terminal (pgrep -t), as /proc/PID/stat's tty_nr
  bool newest = false;                 ///< --newest (pgrep -n): the most recently started only
  bool oldest = false;                 ///< --oldest (pgrep -o): the first started only
  std::optional<Duration> older;       ///< --older (pgrep -O): started at least this long ago

  /// Whether any criterion was given (any one alone selects).
  bool any() const;
};

// The list parsers, for the options: comma-separated, names or numbers as
// pgrep takes them. Each throws UsageError naming `option` and the bad
// element, or the list when it is empty.

/// Users: names (from /etc/passwd) or numbers.
std::vector<uid_t> parse_users(std::string_view list, std::string_view option);
/// Groups: names (from /etc/group) or numbers.
std::vector<gid_t> parse_groups(std::string_view list, std::string_view option);
/// PIDs, process groups or sessions; 0 stands for pwait's own (`own`), as in pgrep.
std::vector<pid_t> parse_id_list(std::string_view list, std::string_view option, pid_t own = 0);
/// Terminals: "pts/3", "tty1", "/dev/pts/3", "?" (no terminal); a name that
/// is no terminal here matches nothing.
std::vector<int> parse_terminals(std::string_view list, std::string_view option);

/// A process the scan chose, or left out and why.
struct Selected {
  pid_t pid;
  std::string name;
  std::string skipped;  ///< empty: chosen; else why not ("pwait's parent")
};

/// Scans /proc for the processes that meet `criteria` and adds each to
/// `set` (pinned, then checked again through the pin). Returns what it
/// chose and what it skipped. `before_pin(pid)` runs between the scan and
/// the pin: a seam for tests. Throws UsageError for a bad pattern.
std::vector<Selected> select_processes(const Criteria& criteria, TargetSet& set,
                                       const std::function<void(pid_t)>& before_pin = {});

}  // namespace pwait
