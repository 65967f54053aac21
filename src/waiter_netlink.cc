// The netlink backend: the proc connector (proc_connector.h) reports every
// thread's exit on the system, with its wait status, at exit time. One fd
// however many targets; the status is known even when the parent reaps at
// once or we may not read the zombie's /proc.
//
// The connector reports exits only, per thread, and loses events when the
// receive buffer overflows, so the target record stays the judge of "the
// whole thread group is gone", and a pidfd on the zombie reports the reap.
//
// It reports every exit on the machine, though: unfiltered, each unrelated
// exit costs a wake-up and 30-50 us of our CPU. So watch() attaches a
// socket filter built from the targets' PIDs (exit_filter), and the kernel
// drops the others' exits before they are queued. watch() is called once
// and the set never grows; an ended target stays in the filter, which is
// harmless (an exit under its reused PID is ignored here, as before). Code
// that added targets would have to attach a new filter with all of them.
// Past what fits (about 3,300 targets; about 1,180 where optmem_max is the
// 20 KiB of older kernels) there is none, and on_exit_event sorts every
// exit on the machine, as before.

#include <linux/cn_proc.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/proc.h"
#include "pwait/proc_connector.h"
#include "pwait/reap_watch.h"

namespace pwait {
namespace {

constexpr std::uint32_t kConnectorIndex = UINT32_MAX;  // a target's reap pidfd is its index

// The probe's subscription, kept for the waiter: one subscription a run.
std::unique_ptr<ProcConnector>& probed() {
  static std::unique_ptr<ProcConnector> connector;
  return connector;
}

class NetlinkWaiter final : public Waiter {
 public:
  NetlinkWaiter(EventLoop& loop, const Request& request, Events& out)
      : loop_(loop), request_(request), ends_(out, request.follow_reap), reaps_(loop, *this) {}

  void watch(std::span<PidRef> targets) override {
    connector_ = std::move(probed());
    if (!connector_) {
      std::string why;
      connector_ = ProcConnector::subscribe(why, loop_.deadline());
      if (!connector_) throw WatchError("netlink: " + why);
    }
    loop_.add(connector_->fd(), EPOLLIN, *this, kConnectorIndex);

    // Subscribed first, checked second: an exit from now on is in the socket.
    targets_ = targets;
    ends_.watch(targets);
    state_.resize(targets.size());
    by_pid_.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) by_pid_.push_back({targets[i].pid(), static_cast<Index>(i)});
    std::sort(by_pid_.begin(), by_pid_.end());
    // Only our targets' exits from now on (before the check, so none of
    // theirs is dropped; what is queued already stays).
    std::vector<pid_t> tgids(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) tgids[i] = targets[i].pid();
    if (!connector_->keep_only_exits_of(tgids)) unfiltered_why_ = unfiltered_why(tgids);
    std::vector<Index> gone;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      PidRef::Life life = targets[i].life();
      // Already exited: settle() reports it, with the status from an event
      // that came in since the subscription, if any.
      if (life == PidRef::Life::reaped) gone.push_back(static_cast<Index>(i));
      else if (life == PidRef::Life::exited) mark_pending(i);
    }
    drain();
    // Reaped since it was pinned: it exited, with the status of an exit
    // event that came since the subscription, if any.
    for (std::size_t i : gone) {
      state_[i].pending = false;
      report_exit(i, PidRef::Life::reaped);
    }
    settle();
  }

  std::optional<std::string> note() const override {
    if (unfiltered_why_.empty()) return std::nullopt;
    return fmt::format("netlink: no socket filter for {} targets ({}): every process exit on the machine wakes pwait",
                       targets_.size(), unfiltered_why_);
  }

  void ready(std::uint32_t index, std::uint32_t events) override {
    if (index == kConnectorIndex) drain();
    else if (events & EPOLLHUP) reaped(index);
    settle();
  }

  void expired() override {
    reaps_.poll([&](std::size_t i) { return targets_[i].alive(); }, [&](std::size_t i) { reaped(i); });
  }

 private:
  // Why the kernel took no filter for `tgids`.
  static std::string unfiltered_why(std::span<const pid_t> tgids) {
    if (!exit_filter(tgids)) return "one filter holds about 3,300";
    auto optmem = read_sysctl("/proc/sys/net/core/optmem_max");
    return fmt::format("net.core.optmem_max, {} bytes, is too small for it; 131072 holds every filter",
                       optmem ? std::to_string(*optmem) : "?");
  }

  // Held for every target, so kept small: 20,000 targets must fit in a few MiB.
  using Index = std::uint32_t;
  struct State {
    int code = 0;  // if has_code: exit_code of the latest exit event of one of its threads
    bool done : 1 = false;     // nothing more to report
    bool pending : 1 = false;  // an event came in: look at it in settle()
    bool has_code : 1 = false;
    bool code_from_leader : 1 = false;
    bool opened_fd : 1 = false;  // its pidfd was opened for the reap (counts against the budget)
  };

  void mark_pending(std::size_t i) {
    if (state_[i].pending) return;
    state_[i].pending = true;
    pending_.push_back(static_cast<Index>(i));
  }

  // Reads what the socket holds now (bounded). Exit events of our targets'
  // threads mark them pending; everything else is dropped. True when it
  // read the queue empty; false when it stopped at the bound or an overflow.
  bool drain() {
    auto read = connector_->receive(ProcConnector::kMaxPerDrain, [&](const ProcMessage& m) {
      if (m.what == proc_event::PROC_EVENT_EXIT) on_exit_event(m.event);
    });
    // The buffer overflowed and events were lost: settle() recovers.
    if (read == ProcConnector::Read::overflow) overflowed_ = true;
    return read == ProcConnector::Read::empty;
  }

  // Without a filter (too many targets) most are other processes' exits.
  void on_exit_event(const proc_event& ev) {
    auto tgid = static_cast<pid_t>(ev.event_data.exit.process_tgid);
    auto it = std::lower_bound(by_pid_.begin(), by_pid_.end(), std::pair<pid_t, Index>{tgid, 0});
    if (it == by_pid_.end() || it->first != tgid) return;
    State& s = state_[it->second];
    if (ends_.exited(it->second)) return;
    // exit_code is the wait status (exit_signal is what the parent gets: SIGCHLD).
    s.code = static_cast<int>(ev.event_data.exit.exit_code);
    s.has_code = true;
    s.code_from_leader = ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid;
    mark_pending(it->second);
  }

  // Looks at the targets that had events, and at every target after an
  // overflow: an exit event (or a lost one) is the end of the process only
  // once the whole thread group is gone.
  void settle() {
    for (std::size_t k = 0;; ++k) {
      if (overflowed_) recover();
      if (k >= pending_.size()) break;
      std::size_t i = pending_[k];
      state_[i].pending = false;
      look(i);
    }
    pending_.clear();
  }

  // Target `i` had an event: reports it exited if its whole thread group is gone.
  void look(std::size_t i) {
    State& s = state_[i];
    if (ends_.exited(i)) return;
    PidRef::Life life = targets_[i].life();
    if (life == PidRef::Life::running) return;  // one thread ended; the process lives on
    if (s.code_from_leader && request_.want_details) {
      // The leader's event is the last one only if no other thread outlived
      // it; one that did has left the group already (that is what /proc
      // showed) and its event is on its way: take it too. (Not when nobody
      // looks at the status: in an exit storm that is a read per target.)
      drain();
    }
    report_exit(i, life);
  }

  // After an overflow. The kernel raises ENOBUFS only as the socket becomes
  // congested, and then drops events silently until its queue has been read
  // empty (netlink_overrun, netlink_rcv_wake). So the queue is emptied first,
  // and only then is every target looked at: an exit lost after that look
  // raises ENOBUFS again. The codes the backlog brings are kept only for a
  // target still there (a zombie pins its PID, so they are its own); for one
  // reaped meanwhile the PID may have named another process since, so it
  // keeps the code it had before the loss.
  void recover() {
    constexpr int kNoCode = INT_MIN;  // exit codes are wait statuses, never negative
    std::vector<int> code_before_loss(state_.size());
    for (std::size_t i = 0; i < state_.size(); ++i)
      code_before_loss[i] = state_[i].has_code ? state_[i].code : kNoCode;
    do {
      overflowed_ = false;
      while (!drain() && !overflowed_ && !loop_.stopped()) {
      }
    } while (overflowed_ && !loop_.stopped());
    if (loop_.stopped()) return;  // pwait is ending: no need to look
    for (std::size_t i = 0; i < state_.size(); ++i) {
      State& s = state_[i];
      if (ends_.exited(i)) continue;
      PidRef::Life life = targets_[i].life();
      if (life == PidRef::Life::running) continue;
      if (life == PidRef::Life::reaped) {
        s.has_code = code_before_loss[i] != kNoCode;
        s.code = code_before_loss[i];
      }
      report_exit(i, life);
    }
  }

  // Reports target `i` exited (`life`: a zombie still, or reaped).
  void report_exit(std::size_t i, PidRef::Life life) {
    State& s = state_[i];
    std::optional<int> seen = s.has_code ? std::optional<int>(s.code) : std::nullopt;
    ExitInfo e;
    if (life == PidRef::Life::reaped) e.status = targets_[i].reaped_status(seen);
    else if (request_.want_details) e = targets_[i].exit_info(seen);
    else e = {seen, true};
    if (ends_.exited(i, e)) watch_reap(i);
    else s.done = true;
  }

  // The zombie's reap: its pidfd reports it (EPOLLHUP), or the ReapWatch
  // looks. A record pinned without a pidfd (past the fd limit) gets one
  // while fds are free; beyond that, the record's identity tells.
  void watch_reap(std::size_t i) {
    PidRef& t = targets_[i];
    if (!t.has_fd() && fds_opened_ < kMaxReapFds) {
      if (!t.open_fd()) return reaped(i);
      state_[i].opened_fd = true;
      ++fds_opened_;
    }
    if (!t.has_fd()) return reaps_.poll_instead(i);
    // EPOLLHUP needs no asking; one-shot, so a reaped pidfd wakes us once.
    if (reaps_.follow(i)) loop_.add(t.fd(), EPOLLONESHOT, *this, static_cast<std::uint32_t>(i));
  }

  void reaped(std::size_t i) {
    State& s = state_[i];
    if (s.done) return;
    s.done = true;
    ends_.reaped(i);
    if (s.opened_fd) {
      targets_[i].close_fd();
      --fds_opened_;
    }
  }

  // Reap pidfds opened for records pinned without one: those were pinned
  // past the fd limit, so only a few more fit.
  static constexpr std::size_t kMaxReapFds = 32;

  EventLoop& loop_;
  Request request_;
  Endings ends_;
  std::unique_ptr<ProcConnector> connector_;
  std::span<PidRef> targets_;
  std::string unfiltered_why_;  // why the kernel drops nothing for us (empty: it filters)
  std::vector<State> state_;
  std::vector<std::pair<pid_t, Index>> by_pid_;  // every target, sorted by PID
  std::vector<Index> pending_;
  bool overflowed_ = false;  // ENOBUFS: events were lost
  ReapWatch reaps_;
  std::size_t fds_opened_ = 0;
};

}  // namespace

std::optional<std::string> netlink_probe(std::span<const PidRef> targets, const Request& request) {
  if (!read_proc_stat(getpid())) return "/proc is not mounted";
  // Its status comes from the exit event; a target that is already a zombie
  // had its event before we listened, and /proc may hide the status from us.
  if (request.must_know_status)
    for (const PidRef& t : targets) {
      if (t.life() != PidRef::Life::exited) continue;
      if (auto st = t.stat(); !st || !zombie_status(t.pid(), *st))
        return fmt::format("cannot promise every exit status: {} is already a zombie whose status is hidden",
                           t.pid());
    }
  if (probed()) return std::nullopt;
  std::string why;
  probed() = ProcConnector::subscribe(why, request.deadline);
  if (!probed()) return why;
  return std::nullopt;
}

void netlink_release() { probed().reset(); }  // unsubscribes a probe's subscription nobody took

std::unique_ptr<Waiter> netlink_create(EventLoop& loop, const Request& request, Events& out) {
  return std::make_unique<NetlinkWaiter>(loop, request, out);
}

}  // namespace pwait
