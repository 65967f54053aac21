#pragma once
// One process, pinned: the record every backend, the selection and the
// signalling use for "this process" (after systemd's PidRef). Anything read
// by PID number is trusted only once the record shows that the number still
// names the same process.

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "pwait/fd.h"
#include "pwait/proc.h"

namespace pwait {

/// How a target's exit looks once its whole thread group has exited.
struct ExitInfo {
  std::optional<int> status;  ///< wait(2)-style; nullopt when it cannot be known
  bool zombie = false;        ///< not yet reaped
  pid_t parent = 0;           ///< the zombie's parent (0 if unknown)
};

/// A PID, the process it named when it was pinned, and a pidfd holding that
/// process where one is kept. The identity is the pidfs inode (Linux 6.9+:
/// unique per boot); where the kernel has none, the start time in clock
/// ticks, which a PID reused within one tick (10 ms) of the original's start
/// would share. With a pidfd held, the identity is exact on any kernel.
/// Move-only: it owns the pidfd.
class PidRef {
 public:
  enum class Result { pinned, gone, other };  ///< other: the PID names another process than `inode`
  PidRef() = default;
  /// A record that names `pid` and holds nothing: for policy tests.
  static PidRef unpinned(pid_t pid) { return PidRef(pid, Fd(), 0); }

  /// Pins process `pid` into `out`, keeping the pidfd if `keep_fd`. With
  /// `inode` (a PID:INODE handle), only that process will do. Throws
  /// WatchError for a thread ID that is not a process, std::system_error
  /// for other failures (the fd limit). A record pinned without its pidfd
  /// opens one for each question later, and throws std::system_error too
  /// when the fd limit refuses it, rather than guess.
  static Result pin(pid_t pid, bool keep_fd, std::uint64_t inode, PidRef& out);

  pid_t pid() const { return pid_; }
  bool has_fd() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  /// The pidfs inode; 0 where the kernel has none (the identity is then the start time).
  std::uint64_t inode() const;

  enum class Life { running, exited, reaped };
  /// Where the pinned process is: running, exited (its whole thread group;
  /// a zombie now) or reaped (the number may name another process by then).
  /// Exact through a pidfd, whatever /proc shows us.
  Life life() const;
  /// Whether the pinned process still exists: running or a zombie, not reaped.
  bool alive() const;
  /// /proc/PID/stat of the pinned process; nullopt once it is reaped, or
  /// when /proc hides it from us (mounted with hidepid).
  std::optional<ProcStat> stat() const;
  /// Opens a pidfd for a record that holds none. false when the process is gone.
  bool open_fd();
  /// Closes the pidfd; the identity stays.
  void close_fd() { fd_.reset(); }

  /// How the process ended, once a backend has seen its whole thread group
  /// exit. The status is the kernel's record for the group where we may read
  /// it (a zombie's /proc stat; PIDFD_INFO_EXIT once reaped), else `seen`,
  /// what the backend saw at the exit (a netlink event, a ptrace stop). A
  /// zombie that is pwait's own child is reaped here, with its exact status:
  /// nobody else can reap it.
  ExitInfo exit_info(std::optional<int> seen);
  /// The status to report at the reap: PIDFD_INFO_EXIT where the kernel kept
  /// it, else `at_exit`.
  std::optional<int> reaped_status(std::optional<int> at_exit) const;

  /// Sends `sig` to the pinned process through its pidfd (never by number
  /// alone): 0, or the errno (ESRCH once it is reaped, EPERM).
  int send_signal(int sig) const;

 private:
  PidRef(pid_t pid, Fd fd, std::uint64_t id) : id_(id), pid_(pid), fd_(std::move(fd)) {}
  /// A pidfd to the pinned process, opened now (for a record without one);
  /// invalid if it is gone.
  Fd reopen() const;
  // Which of the two the identity is follows from the kernel
  // (pidfd_features().inode), never from the record: 16 bytes a target.
  std::uint64_t id_ = 0;  // the pidfs inode, or the start time
  pid_t pid_ = 0;
  Fd fd_;
};

}  // namespace pwait
