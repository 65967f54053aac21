#include "pwait/targets.h"

#include <sys/resource.h>

namespace pwait {
namespace {

// Makes room for `fds` more descriptors, raising the soft RLIMIT_NOFILE as
// far as allowed. Returns how many pidfds may be kept.
std::size_t reserve_fds(std::size_t fds) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  rlim_t want = static_cast<rlim_t>(fds + kSpareFds);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
    rlimit raised = lim;
    raised.rlim_cur = want;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) raised.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && lim.rlim_max != RLIM_INFINITY) {
      raised.rlim_cur = raised.rlim_max = lim.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) raised = lim;
    }
    lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return fds;
  return lim.rlim_cur > kSpareFds ? std::min<std::size_t>(fds, lim.rlim_cur - kSpareFds) : 0;
}

}  // namespace

Targets pin_all(std::span<const pid_t> pids) {
  Targets t;
  t.pinned.reserve(pids.size());
  std::size_t fds = reserve_fds(pids.size());
  for (pid_t pid : pids) {
    PidRef ref;
    if (PidRef::pin(pid, t.pinned.size() < fds, 0, ref) == PidRef::Result::pinned) t.pinned.push_back(std::move(ref));
    else t.missing.push_back(pid);
  }
  return t;
}

}  // namespace pwait
