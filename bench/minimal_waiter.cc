// The benchmark's yardstick: the least a waiter for non-child processes can do.
// pidfd_open(2) every PID, poll(2) until every pidfd is readable (the whole
// thread group has exited), exit 0. No options, no /proc, no output, no status.
// A PID that is already gone counts as ended. Like pwait it raises its soft
// RLIMIT_NOFILE (and, with CAP_SYS_RESOURCE, the hard one) to hold one fd per
// target, so it is measured under the same limits.

#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

void die(const char* call) {
  std::fprintf(stderr, "minimal_waiter: %s: %s\n", call, std::strerror(errno));
  std::exit(3);
}

void reserve_fds(std::size_t n) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) die("getrlimit");
  rlim_t want = n + 16;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= want) return;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) lim.rlim_max = want;
  lim.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) die("setrlimit RLIMIT_NOFILE");
}

}  // namespace

int main(int argc, char** argv) {
  reserve_fds(static_cast<std::size_t>(argc));
  std::vector<pollfd> fds;
  fds.reserve(static_cast<std::size_t>(argc));
  for (int i = 1; i < argc; ++i) {
    int fd = pidfd_open(static_cast<pid_t>(std::atoi(argv[i])));
    if (fd < 0) {
      if (errno == ESRCH) continue;  // already gone
      die("pidfd_open");
    }
    fds.push_back({fd, POLLIN, 0});
  }
  while (!fds.empty()) {
    int n = poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    // Drop the ready ones so each poll(2) only scans targets still running.
    std::size_t kept = 0;
    for (const pollfd& p : fds) {
      if (p.revents) close(p.fd);
      else fds[kept++] = p;
    }
    fds.resize(kept);
  }
  return 0;
}
