// The pidfd backend: each target's pidfd in the one epoll. EPOLLIN means the
// whole thread group has exited; EPOLLHUP (Linux 6.9+) that it was reaped.
// The status comes from the target record (PidRef::exit_info).

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/reap_watch.h"
#include "pwait/targets.h"

namespace pwait {
namespace {

class PidfdWaiter final : public Waiter {
 public:
  PidfdWaiter(EventLoop& loop, const Request& request, Events& out)
      : loop_(loop), request_(request), ends_(out, request.follow_reap), reaps_(loop, *this) {}

  void watch(std::span<PidRef> targets) override {
    targets_ = targets;
    ends_.watch(targets);
    // One-shot: an exited target's pidfd stays readable, and one wake-up is
    // all it may give (re-armed for the reap if asked). A target that has
    // exited already is reported at once (its one-shot then wakes us for
    // nothing, once).
    for (std::size_t i = 0; i < targets.size(); ++i) {
      loop_.add(targets[i].fd(), EPOLLIN | EPOLLONESHOT, *this, static_cast<std::uint32_t>(i));
      if (pidfd_exited(targets[i].fd())) ready(static_cast<std::uint32_t>(i), EPOLLIN);
    }
  }

  void ready(std::uint32_t i, std::uint32_t events) override {
    PidRef& t = targets_[i];
    if (ends_.exited(i)) {
      if (events & EPOLLHUP) ends_.reaped(i);
      return;
    }
    // Plain `pwait PID...` needs no status: no /proc read per exit, which
    // with 20,000 targets is most of the work.
    ExitInfo e = !request_.want_details ? ExitInfo{}
                 : (events & EPOLLHUP)  ? ExitInfo{t.reaped_status(std::nullopt)}
                                        : t.exit_info(std::nullopt);
    // From now on only EPOLLHUP (the reap) may wake us, or, where pidfds
    // report no reap, the ReapWatch looks.
    if (ends_.exited(i, e) && reaps_.follow(i)) loop_.modify(t.fd(), EPOLLONESHOT, *this, i);
  }

  void expired() override {
    reaps_.poll([&](std::size_t i) { return targets_[i].alive(); }, [&](std::size_t i) { ends_.reaped(i); });
  }

 private:
  EventLoop& loop_;
  Request request_;
  std::span<PidRef> targets_;
  Endings ends_;
  ReapWatch reaps_;
};

// Why the targets' pidfds cannot all be held: the fd limit.
std::optional<std::string> fd_shortage(std::span<const PidRef> targets) {
  if (std::all_of(targets.begin(), targets.end(), [](const PidRef& t) { return t.has_fd(); })) return std::nullopt;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  return fmt::format(
      "{} targets need {} file descriptors but the hard RLIMIT_NOFILE is {} "
      "(raise it with 'ulimit -Hn', or use --backend poll)",
      targets.size(), targets.size() + kSpareFds, lim.rlim_max);
}

}  // namespace

std::optional<std::string> pidfd_availability() {
  const PidfdFeatures& f = pidfd_features();
  if (f.open) return std::nullopt;
  if (f.open_error == ENOSYS) return "pidfd_open: not implemented by this kernel (needs Linux 5.3)";
  return fmt::format("pidfd_open: {}", strerror(f.open_error));
}

std::optional<std::string> pidfd_probe(std::span<const PidRef> targets, const Request& request) {
  if (auto why = pidfd_availability()) return why;
  if (request.must_know_status) {
    if (!pidfd_keeps_exit_status())
      return "cannot promise every exit status: this kernel does not keep it for a reaped process "
             "(PIDFD_INFO_EXIT, Linux 6.15), so it is lost when the parent reaps first";
    for (const PidRef& t : targets)
      if (!exit_code_readable(t.pid()))
        return fmt::format("cannot promise every exit status: {}'s is hidden from this user while a zombie",
                           t.pid());
  }
  return fd_shortage(targets);
}

std::unique_ptr<Waiter> pidfd_create(EventLoop& loop, const Request& request, Events& out) {
  return std::make_unique<PidfdWaiter>(loop, request, out);
}

}  // namespace pwait
