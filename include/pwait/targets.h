#pragma once
// The targets as named (operands, pidfiles), pinned as they are named: each
// becomes one PidRef, held once for the whole run, or a missing PID.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pwait/cgroup.h"
#include "pwait/pidfile.h"
#include "pwait/pidref.h"

namespace pwait {

struct Targets {
  std::vector<PidRef> pinned;      ///< distinct, in the order first named
  std::vector<pid_t> missing;      ///< named, but no such process when named
  std::vector<std::string> names;  ///< with TargetSet::keep_names: pinned's names when pinned
  std::vector<Cgroup> cgroups;     ///< --cgroup, --cgroup-of: after the processes in the index space
  bool complete = true;            ///< every pidfile was read to its end
  std::size_t size() const { return pinned.size() + missing.size() + cgroups.size(); }
};

/// fds pwait keeps free besides the pidfds: stdio, epoll, timerfd, signalfd,
/// a netlink socket, /proc reads.
inline constexpr std::size_t kSpareFds = 64;

/// Collects targets as they are named and pins each at once, so that one
/// that ends before the last is named has ended, not gone missing. A PID
/// named twice counts once. Each keeps a pidfd as far as the fd limit
/// allows: the soft RLIMIT_NOFILE is raised as needed up to the hard one
/// (and, with CAP_SYS_RESOURCE, the hard one too); beyond that a target is
/// pinned by its identity alone.
class TargetSet {
 public:
  explicit TargetSet(std::size_t expected = 0);
  ~TargetSet();
  TargetSet(const TargetSet&) = delete;
  TargetSet& operator=(const TargetSet&) = delete;

  /// Pins the process `n` names, unless its PID was named before. Throws
  /// UsageError for pwait's own PID, WatchError for a thread ID.
  void add(const Named& n);
  /// Pins process `pid` unless named before, and keeps it only if
  /// `still_meets(pin)` gives its name once pinned; a process gone by then
  /// is not missing, just not chosen. True when it was added.
  bool add_if(pid_t pid, const std::function<std::optional<std::string>(const PidRef&)>& still_meets);
  /// Keeps each target's name (its comm when pinned) in Targets::names.
  void keep_names() { keep_names_ = true; }
  std::size_t size() const { return t_.size(); }
  Targets take() { return std::move(t_); }

 private:
  bool first_time(pid_t pid);
  bool fd_to_spare();

  Targets t_;
  // One bit per PID up to the largest named so far (at most the kernel's
  // limit, 512 KiB): a few KiB for usual PIDs, no mmap of the whole.
  std::vector<std::uint64_t> seen_;
  std::vector<pid_t> seen_beyond_;  // PIDs past it (no process can have them)
  std::size_t fd_limit_ = 0;        // pidfds that fit under the soft limit now
  bool keep_names_ = false;
};

/// Pins `pids` in order: a TargetSet for tests and the list of backends.
Targets pin_all(std::span<const pid_t> pids);

}  // namespace pwait
