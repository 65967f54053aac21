#pragma once
// Thin wrappers over pidfds, shared by the backends that hold them.

#include <sys/types.h>

#include <optional>

#include "pwait/fd.h"

namespace pwait {

/// pidfd_open(pid): a close-on-exec pidfd, or an invalid Fd with `errno` set
/// (ESRCH gone; a non-leader thread: ENOENT, on older kernels EINVAL, which
/// there also means reaped meanwhile; EMFILE; ENOSYS before Linux 5.3).
Fd open_pidfd(pid_t pid);

/// Opens a pidfd to watch target `pid`: an invalid Fd when no such process
/// exists (ESRCH). Throws WatchError naming the target for a thread ID that
/// is not a process and for the fd limit, std::system_error otherwise.
Fd open_target_pidfd(pid_t pid);

/// Throws WatchError naming `pid` when it is a thread ID that is not a
/// process (not a thread-group leader). For the backends that hold no pidfd.
void refuse_thread_id(pid_t pid);

/// Whether the process behind `pidfd` still exists (running or zombie),
/// i.e. it has not been reaped.
bool pidfd_alive(int pidfd);

/// The exit status of the reaped process behind `pidfd`, from PIDFD_GET_INFO
/// with PIDFD_INFO_EXIT (Linux 6.15+). nullopt before the reap, on older
/// kernels, or when the pidfd was opened after the reap.
std::optional<int> pidfd_exit_status(int pidfd);

/// Whether the running kernel is at least `major.minor` (from uname).
bool kernel_at_least(int major, int minor);

}  // namespace pwait
