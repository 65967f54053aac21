#pragma once
// The targets as named on the command line, pinned as they are named: each
// becomes one PidRef, held once for the whole run, or a missing PID.

#include <sys/types.h>

#include <span>
#include <vector>

#include "pwait/pidref.h"

namespace pwait {

struct Targets {
  std::vector<PidRef> pinned;  ///< distinct, in the order first named
  std::vector<pid_t> missing;  ///< named, but no such process when pinned
};

/// fds pwait keeps free besides the pidfds: stdio, epoll, timerfd, signalfd,
/// a netlink socket, /proc reads.
inline constexpr std::size_t kSpareFds = 64;

/// Pins `pids` (distinct), keeping a pidfd for each as far as the fd limit
/// allows: it raises the soft RLIMIT_NOFILE up to the hard one (and, with
/// CAP_SYS_RESOURCE, the hard one too). Beyond that a target is pinned by
/// its identity alone.
Targets pin_all(std::span<const pid_t> pids);

}  // namespace pwait
