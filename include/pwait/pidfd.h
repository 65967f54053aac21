#pragma once
// The kernel's pidfd interface, wrapped: the calls pwait makes on a pidfd and
// what this kernel offers, detected by what the calls answer (a kernel may
// backport a feature, so never by version number).

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "pwait/fd.h"

namespace pwait {

/// pidfd_open(pid): a close-on-exec pidfd, or an invalid Fd with `errno` set
/// (ESRCH gone; a non-leader thread: ENOENT, on older kernels EINVAL, which
/// there also means reaped meanwhile; EMFILE; ENOSYS before Linux 5.3;
/// EPERM under a container's seccomp profile).
Fd open_pidfd(pid_t pid);

/// Whether the process behind `pidfd` still exists (running or zombie),
/// i.e. it has not been reaped.
bool pidfd_alive(int pidfd);

/// Whether the whole thread group behind `pidfd` has exited (zombie or reaped).
bool pidfd_exited(int pidfd);

/// The exit status of the reaped process behind `pidfd`, from PIDFD_GET_INFO
/// with PIDFD_INFO_EXIT (Linux 6.15+). nullopt before the reap, on kernels
/// without it, or when the pidfd was opened after the reap.
std::optional<int> pidfd_exit_status(int pidfd);

/// The pidfs inode of `pidfd`: unique per process for the whole boot, shared
/// by every pidfd to it (Linux 6.9+). nullopt where pidfds are not on pidfs.
std::optional<std::uint64_t> pidfd_inode(int pidfd);

/// What this kernel's pidfds can do, probed once on first use.
struct PidfdFeatures {
  bool open = false;          ///< pidfd_open works here at all
  int open_error = 0;         ///< why not: the errno of pidfd_open on ourselves
  bool inode = false;         ///< pidfs: an inode per process (and EPOLLHUP at the reap: both Linux 6.9)
};
const PidfdFeatures& pidfd_features();

/// Whether PIDFD_INFO_EXIT gives a reaped process's status (Linux 6.15).
/// Probed on first use with a child that exits at once: call it only where
/// the answer matters (a promise of every status for -x).
bool pidfd_keeps_exit_status();

}  // namespace pwait
