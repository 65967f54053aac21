#include "pwait/pidfd.h"

#include <signal.h>
#include <sys/ioctl.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" guard.
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/utsname.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/proc.h"

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

}  // namespace

Fd open_pidfd(pid_t pid) { return Fd(pidfd_open(pid, 0)); }

namespace {
// pidfd_open(pid), refusing a thread ID with WatchError. Current kernels
// answer ENOENT for a thread that is not a thread-group leader; older ones
// answer EINVAL both for that and for a process reaped between the lookup
// and the check, which /proc tells apart: that one comes back as ESRCH.
Fd open_leader_pidfd(pid_t pid) {
  Fd fd = open_pidfd(pid);
  if (fd || (errno != ENOENT && errno != EINVAL)) return fd;
  int err = errno;
  auto tgid = read_tgid(pid);
  if (err == ENOENT || (tgid && *tgid != pid)) throw WatchError(not_a_process(pid, tgid));
  errno = ESRCH;
  return fd;
}
}  // namespace

Fd open_target_pidfd(pid_t pid) {
  Fd fd = open_leader_pidfd(pid);
  if (fd || errno == ESRCH) return fd;
  if (errno == EMFILE || errno == ENFILE)
    throw WatchError(fmt::format("pidfd_open {}: {}", pid, strerror(errno)));
  throw_errno("pidfd_open", std::to_string(pid));
}

void refuse_thread_id(pid_t pid) {
  Fd fd = open_leader_pidfd(pid);  // a third of the cost of reading /proc/PID/status
  if (fd || errno == ESRCH) return;
  // No pidfd to ask (before Linux 5.3, or no fd free): /proc answers.
  if (auto tgid = read_tgid(pid); tgid && *tgid != pid) throw WatchError(not_a_process(pid, tgid));
}

bool pidfd_alive(int pidfd) {
  // Signal 0 checks existence; EPERM (another user's process) still means it exists.
  return pidfd_send_signal(pidfd, 0, nullptr, 0) == 0 || errno == EPERM;
}

std::optional<int> pidfd_exit_status(int pidfd) {
  pidfd_info_v1 info{};
  info.mask = kPidfdInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) != 0) return std::nullopt;
  if (!(info.mask & kPidfdInfoExit)) return std::nullopt;
  return info.exit_code;
}

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace pwait
