// The poll backend: a look at every target on a timer, for kernels or
// sandboxes where nothing reports an exit. A look asks the target record
// whether its process has exited (a zombie in /proc) or is gone (reaped, or
// its PID now names another process).
//
// Most ticks find nothing, so a tick asks only the cheapest question that
// can tell "unchanged" and leaves the full look (PidRef::life, which may read
// /proc or open a pidfd) to the targets whose answer changed:
// - a target that holds a pidfd: one poll(2) over all of them (a pidfd is
//   readable once its process has exited, zombie or reaped; the kernel
//   answers from the pidfd, so PID reuse cannot fool it);
// - one without (past the fd limit, or no pidfds here): kill(pid, 0), whose
//   ESRCH proves the pinned process reaped (it holds its number until then).
//   Success proves nothing (a zombie, or the number reused), so these get the
//   full look as well, at most every kFullLook.

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/proc.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// Adaptive interval: quick at first (short-lived targets are the common
// case), backing off to a cap: the median wake-up is about half of it
// (measured: 13-25 ms with 40 ms on a busy machine, 42 ms with 100 ms). A
// quiet tick is now one wake-up and one poll(2), and the wake-up is most of
// its cost, so the 40 ms cap costs about twice the CPU of the old 100 ms one
// (about 0.1% of a core against 0.05%): the price of the median, on purpose.
constexpr Duration kFirstInterval = milliseconds(5);
constexpr Duration kMaxInterval = milliseconds(40);
// The full look at a target without a pidfd, whose kill(pid, 0) cannot see
// its exit (only its reap): at most this long after it exits.
constexpr Duration kFullLook = milliseconds(100);
// With thousands of targets one sweep is long: the interval stretches so
// that polling takes at most 1/kDutyRatio of the time, but never past
// kMaxStretched, so even 20,000 targets are noticed within a second or so.
// Measured at 10,000 targets: a quiet sweep is one poll(2) of about 4 ms
// (it was 17 ms of two calls per target), so 1% of a core gives a 0.4 s
// interval (it was 5% and, on a busy machine, the 1 s cap).
constexpr int kDutyRatio = 100;
constexpr Duration kMaxStretched = milliseconds(1000);
// Right after a sweep that saw targets end, more are likely to follow (a job
// killed at once, a build finishing): the interval starts again from
// kFirstInterval and polling may take 1/kBurstDutyRatio of the time, so the
// last of 10,000 exits is seen within about 40 ms rather than 0.4 s. Quiet
// sweeps return to kDutyRatio.
constexpr int kBurstDutyRatio = 10;

class PollWaiter final : public Waiter {
 public:
  PollWaiter(EventLoop& loop, const Request& request, Events& out)
      : loop_(loop), request_(request), ends_(out, request.follow_reap) {
    recent_.fill(Duration::max());
  }

  void watch(std::span<PidRef> targets) override {
    targets_ = targets;
    ends_.watch(targets);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].has_fd()) {
        held_.push_back(i);
        fds_.push_back({targets[i].fd(), POLLIN, 0});
      } else {
        bare_.push_back(i);
      }
    }
    sweep(true);
  }

  void expired() override { sweep(false); }

 private:
  // `first`: the sweep at watch(), a full look at every target, which
  // reports what ended before pwait started watching.
  void sweep(bool first) {
    auto start = Clock::now();
    bool full = first || (!bare_.empty() && start - last_full_ >= std::max(kFullLook, stretch_));
    if (full) last_full_ = start;
    // Only what every tick repeats counts towards stretching the interval:
    // the poll(2) and the targets without a pidfd. A look at a target that
    // has ended happens once or twice per target, and counting it would
    // stretch the wait for the rest just when they are ending.
    reported_ = false;
    Duration looks = sweep_held(first);
    std::erase_if(bare_, [&](std::size_t i) { return (full || reaped_by_number(i)) && look(i); });
    burst_ = reported_ && !first;
    auto end = Clock::now();
    last_sweep_ = end - start - looks;
    if (!held_.empty() || !bare_.empty()) loop_.set_timer(*this, end + next_interval());
  }

  // The targets with a pidfd: one poll(2) says which changed; only those get
  // a look (all of them at the first sweep). Returns the time the looks took.
  Duration sweep_held(bool first) {
    if (held_.empty()) return {};
    if (!first) {
      while (poll(fds_.data(), fds_.size(), 0) < 0)
        if (errno != EINTR) throw_errno("poll", "pidfds");
    }
    auto start = Clock::now();
    std::size_t kept = 0;
    for (std::size_t k = 0; k < held_.size(); ++k) {
      if ((first || fds_[k].revents != 0) && look(held_[k])) continue;
      held_[kept] = held_[k];
      fds_[kept] = fds_[k];
      ++kept;
    }
    held_.resize(kept);
    fds_.resize(kept);
    return Clock::now() - start;
  }

  // kill(pid, 0) by number: ESRCH means no process holds the number, so the
  // pinned one is reaped. Anything else leaves the question to the full look.
  bool reaped_by_number(std::size_t i) const { return kill(targets_[i].pid(), 0) != 0 && errno == ESRCH; }

  // Looks at target i; true when there is nothing more to report.
  bool look(std::size_t i) {
    PidRef& t = targets_[i];
    PidRef::Life life = t.life();
    if (life == PidRef::Life::running) return false;
    if (ends_.exited(i)) {
      if (life == PidRef::Life::exited) return false;  // still a zombie
      ends_.reaped(i);
      reported_ = true;
      return true;
    }
    reported_ = true;
    ExitInfo e;
    // Gone between two looks: it exited and was reaped unseen.
    if (life == PidRef::Life::reaped) e.status = t.reaped_status(std::nullopt);
    else if (request_.want_details) e = t.exit_info(std::nullopt);
    else e.zombie = true;
    return !ends_.exited(i, e);
  }

  Duration next_interval() {
    if (request_.interval) return *request_.interval;
    bool restart = interval_ == Duration::zero() || burst_;
    interval_ = std::min(kMaxInterval, restart ? kFirstInterval : interval_ * 3 / 2);
    // The shortest of the last few sweeps: a sweep preempted on a busy
    // machine takes longer by the wall clock without costing more, and must
    // not stretch the interval up to a second.
    recent_[sweeps_++ % recent_.size()] = last_sweep_;
    Duration cost = *std::min_element(recent_.begin(), recent_.end());
    stretch_ = std::min(cost * (burst_ ? kBurstDutyRatio : kDutyRatio), kMaxStretched);
    return std::max(interval_, stretch_);
  }

  EventLoop& loop_;
  Request request_;
  std::span<PidRef> targets_;
  Endings ends_;
  std::vector<std::size_t> held_;  // targets still to look at that hold a pidfd
  std::vector<pollfd> fds_;        // their pidfds, in the same order
  std::vector<std::size_t> bare_;  // targets still to look at without one
  Duration interval_{};
  Duration stretch_{};
  Duration last_sweep_{};
  std::array<Duration, 8> recent_;  // the last sweeps' repeated costs (max: none yet)
  std::size_t sweeps_ = 0;
  bool reported_ = false;  // this sweep reported an exit or a reap
  bool burst_ = false;     // the last sweep did
  Clock::time_point last_full_{};
};

}  // namespace

std::optional<std::string> poll_probe(std::span<const PidRef>, const Request& request) {
  if (!read_proc_stat(getpid())) return "/proc is not mounted";
  if (request.must_know_status) return "cannot promise every exit status: it sees one only if it catches the zombie";
  return std::nullopt;
}

std::unique_ptr<Waiter> poll_create(EventLoop& loop, const Request& request, Events& out) {
  return std::make_unique<PollWaiter>(loop, request, out);
}

}  // namespace pwait
