#pragma once
// Waiting for a whole cgroup (issue 13): a cgroup v2 directory ends when it
// and all its sub-cgroups hold no process, as its cgroup.events says
// ("populated 0"; a zombie already counts as gone), or when it is removed.
// Event-driven: EPOLLPRI on cgroup.events in the one loop, a pread after each
// wake. Read access is all it needs.

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/fd.h"
#include "pwait/waiter.h"

namespace pwait {

/// A cgroup named as a target.
struct Cgroup {
  std::string path;  ///< as the kernel names it, from the cgroup2 root: "/system.slice/x.service"
  std::string dir;   ///< the directory: the cgroup2 mount point + path
};

/// Where cgroup2 is mounted (/proc/self/mountinfo: /sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on a hybrid system); nullopt if nowhere.
std::optional<std::string> cgroup2_mount();

/// The cgroup --cgroup names: a directory under the cgroup2 mount, given by
/// its path there ("/system.slice/x.service", as /proc/PID/cgroup writes it),
/// relative to the mount, or as a filesystem path. Throws UsageError for no
/// such cgroup, WatchError for the root cgroup (never empty: it has no
/// cgroup.events) or without cgroup2.
Cgroup resolve_cgroup(std::string_view text);

/// The cgroup process `pid` is in (--cgroup-of: the 0:: line of
/// /proc/PID/cgroup); nullopt when no process has that PID (a missing
/// target, as a PID operand). Throws WatchError for a process in the root
/// cgroup or in none of cgroup v2.
std::optional<Cgroup> cgroup_of(pid_t pid);

/// Sends `sig` to every process in cgroup `c` and below: SIGKILL through
/// cgroup.kill where the kernel has it (Linux 5.14; race-free, forks
/// included), else each process read from cgroup.procs, pinned, and
/// signalled through its record if it is still in the cgroup.
void signal_cgroup(const Cgroup& c, int sig);

/// Watches cgroups in the loop and reports each one's end as an `exited`
/// event (no status) for target `first_index + k`; with `reaped` (-r, which
/// means nothing more for a cgroup: its zombies are gone from it already) a
/// `reaped` one too.
class CgroupWatch final : public EventLoop::Source {
 public:
  CgroupWatch(EventLoop& loop, Events& out, std::size_t first_index, bool reaped)
      : loop_(loop), out_(out), first_index_(first_index), reaped_(reaped) {}
  ~CgroupWatch();
  CgroupWatch(const CgroupWatch&) = delete;
  CgroupWatch& operator=(const CgroupWatch&) = delete;

  /// Starts watching; reports at once every cgroup empty or gone already.
  void watch(std::span<const Cgroup> cgroups);
  void ready(std::uint32_t k, std::uint32_t events) override;

 private:
  void look(std::size_t k);
  void ended(std::size_t k);
  EventLoop& loop_;
  Events& out_;
  std::size_t first_index_;
  bool reaped_;
  std::span<const Cgroup> cgroups_;
  std::vector<Fd> events_fd_;  // each cgroup's cgroup.events; closed once it has ended
};

}  // namespace pwait
