#include "pwait/pidref.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" guard.
extern "C" {
#include <sys/pidfd.h>
}
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/pidfd.h"

namespace pwait {
namespace {

// The wait(2) status a parent gets for this siginfo.
std::optional<int> wait_status(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED: return (info.si_status & 0xff) << 8;
    case CLD_KILLED: return info.si_status & 0x7f;
    case CLD_DUMPED: return (info.si_status & 0x7f) | 0x80;
    default: return std::nullopt;
  }
}

// Reaps zombie `pid`, a child of ours (through `pidfd` where the kernel
// takes one, Linux 5.4): nobody else can, and its exact status comes with it.
std::optional<int> reap_own_child(pid_t pid, int pidfd) {
  siginfo_t info{};
  int r = pidfd >= 0 ? waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) : -1;
  if (r != 0) {
    // Older kernels (EINVAL): by number, which our own zombie keeps until we reap it.
    info = {};
    r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
  }
  if (r != 0 || info.si_pid == 0) return std::nullopt;
  return wait_status(info);
}

[[noreturn]] void refuse_handle_without_pidfs(pid_t pid) {
  throw WatchError(fmt::format("{}: a PID:INODE handle needs pidfds on pidfs (Linux 6.9), which this kernel lacks", pid));
}

}  // namespace

PidRef::Result PidRef::pin(pid_t pid, bool keep_fd, std::uint64_t inode, PidRef& out) {
  const PidfdFeatures& features = pidfd_features();
  if (!features.open) {
    // No pidfds here (before Linux 5.3, or refused by a seccomp profile):
    // the start time, read by number, is the identity.
    if (inode) refuse_handle_without_pidfs(pid);
    auto st = read_proc_stat(pid);
    if (!st) {
      if (process_exists(pid))
        throw WatchError(fmt::format("{}: /proc hides this process (mounted with hidepid), and without pidfds "
                                     "pwait has nothing else to watch it with", pid));
      return Result::gone;
    }
    if (auto tgid = read_tgid(pid); tgid && *tgid != pid) throw WatchError(not_a_process(pid, tgid));
    out = PidRef(pid, Fd(), st->start_time);
    return Result::pinned;
  }
  Fd fd = open_pidfd(pid);
  if (!fd) {
    int err = errno;
    if (err == ESRCH) return Result::gone;
    if (err == ENOENT || err == EINVAL) {
      // Current kernels answer ENOENT for a thread that is not a thread-group
      // leader; older ones answer EINVAL both for that and for a process
      // reaped between the lookup and the check, which /proc tells apart.
      auto tgid = read_tgid(pid);
      if (err == ENOENT || (tgid && *tgid != pid)) throw WatchError(not_a_process(pid, tgid));
      return Result::gone;
    }
    throw_error(err, "pidfd_open", std::to_string(pid));
  }
  std::uint64_t id;
  if (features.inode) {
    auto ino = pidfd_inode(fd.get());
    if (!ino) throw_errno("fstat", fmt::format("pidfd {}", pid));
    if (inode && *ino != inode) return Result::other;
    id = *ino;
  } else {
    if (inode) refuse_handle_without_pidfs(pid);
    // Read by number: it counts only if the pidfd still holds the process
    // afterwards (the process held the number throughout).
    auto st = read_proc_stat(pid);
    if (!st || !pidfd_alive(fd.get())) return Result::gone;
    id = st->start_time;
  }
  out = PidRef(pid, keep_fd ? std::move(fd) : Fd(), id);
  return Result::pinned;
}

std::uint64_t PidRef::inode() const { return pidfd_features().inode ? id_ : 0; }

Fd PidRef::reopen() const {
  if (!pidfd_features().open) return Fd();
  Fd fd = open_pidfd(pid_);
  // Out of fds, the answer would be a guess ("reaped"): pwait fails instead.
  if (!fd && (errno == EMFILE || errno == ENFILE)) throw_errno("pidfd_open", std::to_string(pid_));
  if (!fd) return fd;
  if (pidfd_features().inode) {
    if (pidfd_inode(fd.get()) != id_) fd.reset();
  } else {
    auto st = read_proc_stat(pid_);
    if (!st || st->start_time != id_ || !pidfd_alive(fd.get())) fd.reset();
  }
  return fd;
}

PidRef::Life PidRef::life() const {
  if (!pidfd_features().open) {
    auto st = stat();
    return !st ? Life::reaped : st->group_exited() ? Life::exited : Life::running;
  }
  Fd transient;
  int fd = fd_ ? fd_.get() : (transient = reopen()).get();
  if (fd < 0 || !pidfd_alive(fd)) return Life::reaped;
  return pidfd_exited(fd) ? Life::exited : Life::running;
}

bool PidRef::alive() const {
  if (fd_) return pidfd_alive(fd_.get());
  if (pidfd_features().open) return reopen().valid();
  return stat().has_value();
}

std::optional<ProcStat> PidRef::stat() const {
  if (!pidfd_features().open) {
    auto st = read_proc_stat(pid_);
    if (!st || st->start_time != id_) return std::nullopt;
    return st;
  }
  // Read by number, trusted only if the process holds the number still
  // afterwards: until it is reaped, nothing else can have it.
  Fd transient;
  int fd = fd_ ? fd_.get() : (transient = reopen()).get();
  if (fd < 0) return std::nullopt;
  auto st = read_proc_stat(pid_);
  if (!st || !pidfd_alive(fd)) return std::nullopt;
  return st;
}

bool PidRef::open_fd() {
  if (!fd_) fd_ = reopen();
  return fd_.valid();
}

ExitInfo PidRef::exit_info(std::optional<int> seen) {
  ExitInfo e;
  auto st = read_proc_stat(pid_);
  if (st && st->group_exited()) {
    e.status = zombie_status(pid_, *st);
    // Read by number: it counts only if the process was still unreaped
    // after the reads, so they were of it.
    if (alive()) {
      if (st->ppid == getpid()) {
        // Our own zombie holds its PID until we reap it: the number is safe.
        if (auto status = reap_own_child(pid_, fd_.get())) {
          e.status = status;
          return e;
        }
      }
      if (!e.status) e.status = seen;
      e.zombie = true;
      e.parent = st->ppid;
      return e;
    }
  }
  if (!st && alive()) {
    // Unreaped, but /proc hides it from us (hidepid): a zombie we know
    // nothing more of.
    e.status = seen;
    e.zombie = true;
    return e;
  }
  // Reaped already (or gone under a reused number).
  e.status = reaped_status(seen);
  return e;
}

std::optional<int> PidRef::reaped_status(std::optional<int> at_exit) const {
  if (fd_)
    if (auto status = pidfd_exit_status(fd_.get())) return status;
  return at_exit;
}

int PidRef::send_signal(int sig) const {
  if (!pidfd_features().open) {
    // No pidfds: by number, just after checking the start time. A reuse
    // within one clock tick, in between, is the documented limit.
    if (!stat()) return ESRCH;
    return kill(pid_, sig) == 0 ? 0 : errno;
  }
  Fd transient;
  int fd = fd_ ? fd_.get() : (transient = reopen()).get();
  if (fd < 0) return ESRCH;
  return pidfd_send_signal(fd, sig, nullptr, 0) == 0 ? 0 : errno;
}

}  // namespace pwait
