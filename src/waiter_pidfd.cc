// The pidfd backend: one pidfd per target in the shared epoll. EPOLLIN means
// the whole thread group has exited; EPOLLHUP (Linux 6.9+) that it was reaped.
// The status comes from /proc/PID/stat while it is a zombie and from
// PIDFD_GET_INFO once it is reaped (Linux 6.15+).

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"
#include "pwait/reap_watch.h"

namespace pwait {
namespace {

// fds pwait holds besides the pidfds: stdio, epoll, timerfd, signalfd, /proc reads.
constexpr rlim_t kSpareFds = 64;

// Makes room for `targets` pidfds by raising the soft RLIMIT_NOFILE (and, with
// CAP_SYS_RESOURCE, the hard one). The reason it cannot, or nullopt.
std::optional<std::string> reserve_fds(std::size_t targets) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return fmt::format("getrlimit: {}", strerror(errno));
  rlim_t want = static_cast<rlim_t>(targets) + kSpareFds;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= want) return std::nullopt;
  rlimit raised = lim;
  raised.rlim_cur = want;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) raised.rlim_max = want;
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return std::nullopt;
  return fmt::format(
      "{} targets need {} file descriptors but the hard RLIMIT_NOFILE is {} "
      "(raise it with 'ulimit -Hn', or use --backend poll)",
      targets, want, lim.rlim_max);
}

class PidfdWaiter final : public Waiter {
 public:
  PidfdWaiter(EventLoop& loop, const WatchSpec& spec) : loop_(loop), spec_(spec) {}

  void watch(std::span<const pid_t> pids, std::vector<Event>& out) override {
    if (auto why = reserve_fds(pids.size())) throw WatchError(*why);
    pids_ = pids;
    targets_.resize(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) {
      Fd fd = open_target_pidfd(pids[i]);
      if (!fd) {
        out.push_back({EventKind::missing, i, std::nullopt});
        continue;
      }
      // Level-triggered: a target that has already exited is ready at once.
      loop_.add(fd.get(), EPOLLIN, i);
      targets_[i].fd = std::move(fd);
    }
  }

  void wait(std::vector<Event>& out) override {
    std::size_t before = out.size();
    while (out.size() == before && !loop_.stopped()) {
      for (const epoll_event& ev : loop_.wait(reaps_.max_wait())) on_ready(ev.data.u64, ev.events, out);
      reaps_.poll([&](std::size_t i) { return pidfd_alive(targets_[i].fd.get()); },
                  [&](std::size_t i) { finish_reaped(i, out); });
    }
  }

 private:
  struct Target {
    Fd fd;
    bool exited = false;
    std::optional<int> status;
  };

  void on_ready(std::size_t i, std::uint32_t events, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (!t.exited) {
      t.exited = true;
      Event ev{EventKind::exited, i, std::nullopt};
      // Plain `pwait PID...` needs no status: no /proc read per exit, which
      // with 20,000 targets is most of the work.
      bool reaped = (events & EPOLLHUP) || (spec_.want_details && !zombie_details(i, ev));
      if (!spec_.want_details && !reaped) {
        out.push_back(ev);
        return t.fd.reset();
      }
      if (reaped) ev.status = pidfd_exit_status(t.fd.get());
      t.status = ev.status;
      out.push_back(ev);
      if (!spec_.follow_reap) return t.fd.reset();  // closing drops it from the epoll
      if (reaped) return finish_reaped(i, out);
      // A zombie's pidfd stays readable: from now on only EPOLLHUP (the
      // reap) may wake us, or, before Linux 6.9, the ReapWatch polls it.
      loop_.modify(t.fd.get(), 0, i);
      reaps_.follow(i);
      return;
    }
    if (events & EPOLLHUP) finish_reaped(i, out);
  }

  // Fills in the zombie's status and parent from /proc. false when the
  // process turns out to be reaped already. The stat is read by PID number,
  // so it counts only if the pidfd shows the process still unreaped *after*
  // the read: a zombie holds its PID, so the number was not reused.
  bool zombie_details(std::size_t i, Event& ev) {
    auto st = read_proc_stat(pids_[i]);
    if (!st || !st->group_exited()) return false;
    auto status = zombie_status(pids_[i], *st);
    if (!pidfd_alive(targets_[i].fd.get())) return false;
    ev.status = status;
    ev.zombie = true;
    ev.parent = st->ppid;
    return true;
  }

  void finish_reaped(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    auto status = pidfd_exit_status(t.fd.get());
    out.push_back({EventKind::reaped, i, status ? status : t.status});
    t.fd.reset();
  }

  EventLoop& loop_;
  WatchSpec spec_;
  std::span<const pid_t> pids_;
  std::vector<Target> targets_;
  ReapWatch reaps_;
};

}  // namespace

std::optional<std::string> pidfd_probe(const Needs& needs) {
  Fd self = open_pidfd(getpid());
  if (!self) {
    if (errno == ENOSYS) return "pidfd_open: not implemented by this kernel (needs Linux 5.3)";
    return fmt::format("pidfd_open: {}", strerror(errno));
  }
  if (needs.must_know_status) {
    if (!kernel_at_least(6, 15))
      return "cannot promise every exit status: before Linux 6.15 it is lost when the parent reaps first";
    for (pid_t pid : needs.pids)
      if (!exit_code_readable(pid))
        return fmt::format("cannot promise every exit status: {}'s is hidden from this user while a zombie", pid);
  }
  return reserve_fds(needs.pids.size());
}

std::unique_ptr<Waiter> pidfd_create(EventLoop& loop, const WatchSpec& spec) {
  return std::make_unique<PidfdWaiter>(loop, spec);
}

}  // namespace pwait
