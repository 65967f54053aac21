#include "pwait/pidfd.h"

#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" guard.
extern "C" {
#include <sys/pidfd.h>
}
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace pwait {
namespace {

// The installed headers (linux-libc-dev 6.1) predate these; layout from
// include/uapi/linux/pidfd.h of Linux 6.15+ (PIDFD_INFO_SIZE_VER1, 72 bytes).
struct pidfd_info_v1 {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  std::int32_t exit_code;
  std::uint32_t coredump_mask;
  std::uint32_t spare0;
};
static_assert(sizeof(pidfd_info_v1) == 72);
static_assert(offsetof(pidfd_info_v1, exit_code) == 60);

constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, pidfd_info_v1);  // Linux 6.13
constexpr std::uint64_t kPidfdInfoExit = 1u << 3;                          // Linux 6.15
constexpr long kPidfsMagic = 0x50494446;                                   // "PIDF", Linux 6.9

}  // namespace

Fd open_pidfd(pid_t pid) { return Fd(pidfd_open(pid, 0)); }

bool pidfd_alive(int pidfd) {
  // Signal 0 checks existence; EPERM (another user's process) still means it exists.
  return pidfd_send_signal(pidfd, 0, nullptr, 0) == 0 || errno == EPERM;
}

bool pidfd_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

std::optional<int> pidfd_exit_status(int pidfd) {
  pidfd_info_v1 info{};
  info.mask = kPidfdInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) != 0) return std::nullopt;
  if (!(info.mask & kPidfdInfoExit)) return std::nullopt;
  return info.exit_code;
}

std::optional<std::uint64_t> pidfd_inode(int pidfd) {
  struct statfs fs {};
  struct stat st {};
  if (fstatfs(pidfd, &fs) != 0 || fs.f_type != kPidfsMagic || fstat(pidfd, &st) != 0) return std::nullopt;
  return st.st_ino;
}

const PidfdFeatures& pidfd_features() {
  static const PidfdFeatures features = [] {
    PidfdFeatures f;
    Fd self = open_pidfd(getpid());
    if (!self) {
      f.open_error = errno;
      return f;
    }
    f.open = true;
    f.inode = pidfd_inode(self.get()).has_value();
    return f;
  }();
  return features;
}

bool pidfd_keeps_exit_status() {
  static const bool keeps = [] {
    // A child that exits at once, with its pidfd from the clone itself, so
    // that an inherited SIG_IGN for SIGCHLD (the kernel then reaps it at
    // once) cannot take it away first.
    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child == 0) syscall(SYS_exit_group, 0);  // nothing else: the parent may be threaded
    if (child < 0) return false;
    Fd fd(pidfd);
    siginfo_t info{};
    if (waitid(P_PIDFD, static_cast<id_t>(fd.get()), &info, WEXITED) != 0 && errno != ECHILD)
      waitpid(static_cast<pid_t>(child), nullptr, 0);  // before Linux 5.4: no P_PIDFD
    return pidfd_exit_status(fd.get()).has_value();
  }();
  return keeps;
}

}  // namespace pwait
