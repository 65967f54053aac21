#include "pwait/targets.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/proc.h"

namespace pwait {
namespace {

// How many pidfds fit under the soft RLIMIT_NOFILE once it is raised to hold
// `wanted` of them, if the limits allow.
std::size_t raise_fd_limit(std::size_t wanted) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  rlim_t want = static_cast<rlim_t>(wanted + kSpareFds);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
    rlimit raised = lim;
    raised.rlim_cur = want;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) raised.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised = lim;
      raised.rlim_cur = std::min(want, lim.rlim_max);
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) raised = lim;
    }
    lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return lim.rlim_cur > kSpareFds ? static_cast<std::size_t>(lim.rlim_cur - kSpareFds) : 0;
}

}  // namespace

TargetSet::TargetSet(std::size_t expected)
    : fd_limit_(raise_fd_limit(expected)) {
  t_.pinned.reserve(expected);
}

TargetSet::~TargetSet() = default;

bool TargetSet::first_time(pid_t pid) {
  if (pid > kPidMaxLimit) {
    if (std::find(seen_beyond_.begin(), seen_beyond_.end(), pid) != seen_beyond_.end()) return false;
    seen_beyond_.push_back(pid);
    return true;
  }
  auto bit = std::uint64_t{1} << (pid % 64);
  auto at = static_cast<std::size_t>(pid) / 64;
  if (at >= seen_.size()) seen_.resize(std::max(at + 1, seen_.size() * 2));
  std::uint64_t& word = seen_[at];
  if (word & bit) return false;
  word |= bit;
  return true;
}

bool TargetSet::fd_to_spare() {
  if (t_.pinned.size() < fd_limit_) return true;
  // Grow the soft limit as targets come (a pidfile's length is not known ahead).
  fd_limit_ = raise_fd_limit(std::max<std::size_t>(t_.pinned.size() * 2, 1024));
  return t_.pinned.size() < fd_limit_;
}

void TargetSet::add(const Named& n) {
  if (n.pid == getpid()) throw UsageError(fmt::format("{}: is pwait itself; it cannot wait for its own end", n.pid));
  if (!first_time(n.pid)) return;
  PidRef ref;
  if (PidRef::pin(n.pid, fd_to_spare(), n.inode, ref) != PidRef::Result::pinned) {
    t_.missing.push_back(n.pid);
    return;
  }
  if (keep_names_) {
    auto st = ref.stat();
    t_.names.push_back(st ? st->comm : std::string());
  }
  t_.pinned.push_back(std::move(ref));
}

bool TargetSet::add_if(pid_t pid, const std::function<std::optional<std::string>(const PidRef&)>& still_meets) {
  if (pid == getpid() || !first_time(pid)) return false;
  PidRef ref;
  if (PidRef::pin(pid, fd_to_spare(), 0, ref) != PidRef::Result::pinned) return false;
  auto name = still_meets(ref);
  if (!name) return false;
  if (keep_names_) t_.names.push_back(std::move(*name));
  t_.pinned.push_back(std::move(ref));
  return true;
}

Targets pin_all(std::span<const pid_t> pids) {
  TargetSet set(pids.size());
  for (pid_t pid : pids) set.add({pid});
  return set.take();
}

}  // namespace pwait
