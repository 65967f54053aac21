// The poll backend: a look at every target on a timer, for kernels or
// sandboxes where nothing reports an exit. A look asks the target record
// whether its process has exited (a zombie in /proc) or is gone (reaped, or
// its PID now names another process).

#include <algorithm>

#include "pwait/backend.h"
#include "pwait/proc.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// Adaptive interval: quick at first (short-lived targets are the common
// case), backing off to the cap that keeps the wake-up within ~100 ms.
constexpr Duration kFirstInterval = milliseconds(5);
constexpr Duration kMaxInterval = milliseconds(100);
// With thousands of targets one sweep is long: the interval stretches so
// that polling takes at most 1/kDutyRatio of the time, but never past
// kMaxStretched, so even 20,000 targets are noticed within a second or so.
constexpr int kDutyRatio = 20;
constexpr Duration kMaxStretched = milliseconds(1000);

class PollWaiter final : public Waiter {
 public:
  PollWaiter(EventLoop& loop, const Request& request, Events& out)
      : loop_(loop), request_(request), ends_(out, request.follow_reap) {}

  void watch(std::span<PidRef> targets) override {
    targets_ = targets;
    ends_.watch(targets);
    live_.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) live_.push_back(i);
    sweep();
  }

  void expired() override { sweep(); }

 private:
  void sweep() {
    auto start = Clock::now();
    std::erase_if(live_, [&](std::size_t i) { return look(i); });
    last_sweep_ = Clock::now() - start;
    if (!live_.empty()) loop_.set_timer(*this, Clock::now() + next_interval());
  }

  // Looks at target i; true when there is nothing more to report.
  bool look(std::size_t i) {
    PidRef& t = targets_[i];
    PidRef::Life life = t.life();
    if (life == PidRef::Life::running) return false;
    if (ends_.exited(i)) {
      if (life == PidRef::Life::exited) return false;  // still a zombie
      ends_.reaped(i);
      return true;
    }
    ExitInfo e;
    // Gone between two looks: it exited and was reaped unseen.
    if (life == PidRef::Life::reaped) e.status = t.reaped_status(std::nullopt);
    else if (request_.want_details) e = t.exit_info(std::nullopt);
    else e.zombie = true;
    return !ends_.exited(i, e);
  }

  Duration next_interval() {
    if (request_.interval) return *request_.interval;
    interval_ = std::min(kMaxInterval, interval_ == Duration::zero() ? kFirstInterval : interval_ * 3 / 2);
    return std::max(interval_, std::min(last_sweep_ * kDutyRatio, kMaxStretched));
  }

  EventLoop& loop_;
  Request request_;
  std::span<PidRef> targets_;
  Endings ends_;
  std::vector<std::size_t> live_;           // targets still to look at
  Duration interval_{};
  Duration last_sweep_{};
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
