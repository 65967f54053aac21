#pragma once
// The contract every backend implements: a passive Source in the one loop.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "pwait/event.h"
#include "pwait/event_loop.h"
#include "pwait/pidref.h"

namespace pwait {

/// What was asked, said once: the probes and the backends read it.
struct Request {
  bool follow_reap = false;  ///< --reaped: after `exited`, keep watching until `reaped`
  /// Someone will look at the status, zombie flag or parent (-x, -v, -j,
  /// --reaped). When false a backend may report a bare `exited` and skip
  /// reading /proc.
  bool want_details = true;
  bool want_status = false;  ///< --exit-status
  /// Set by `auto` on its first pass when --exit-status was given: a probe
  /// declines unless every target's exit status can be known, however it ends.
  bool must_know_status = false;
  /// Set when the user named the backend: a probe need not foresee, at a
  /// cost per target, a refusal that watch() meets and explains anyway.
  bool backend_named = false;
  std::optional<Duration> interval = std::nullopt;  ///< fixed poll interval (poll backend); adaptive when unset
  /// pwait's deadline: a probe or a set-up that waits on the kernel never waits past it.
  std::optional<Clock::time_point> deadline = std::nullopt;
};

using Events = std::vector<Event>;

/// Turns the kernel's notifications about a set of pinned processes into
/// Events, appended to the sink it was created with. Passive: it registers
/// its fds, timer and signals with the EventLoop and acts only when the loop
/// calls it. It never decides when pwait is done: it reports, the policy counts.
class Waiter : public EventLoop::Source {
 public:
  virtual ~Waiter() = default;
  /// Starts watching `targets` (pinned, distinct; they outlive the Waiter).
  /// Reports at once every target that has ended already. Throws WatchError
  /// when a target cannot be watched at all (permission, fd limit), naming
  /// it and the reason. Every target is released when the Waiter is destroyed.
  virtual void watch(std::span<PidRef> targets) = 0;
  /// What a user may want to know about how it watches here, once watch()
  /// has run (a cost, a limit met); printed with -v.
  virtual std::optional<std::string> note() const { return std::nullopt; }
};

/// What every backend does with a target's end, in one place: reports
/// `exited` once with what it learnt (PidRef::exit_info), and, with
/// --reaped, `reaped` once, with the status the kernel kept for the reap
/// where it kept one, else the one reported at the exit. A wake-up that
/// says "reaped" again, or without --reaped, reports nothing: a pidfd armed
/// before a target exited may wake once more after its reap.
class Endings {
 public:
  Endings(Events& out, bool follow_reap) : out_(out), follow_reap_(follow_reap) {}
  void watch(std::span<PidRef> targets) {
    targets_ = targets;
    state_.assign(targets.size(), State::running);
    if (follow_reap_) status_.resize(targets.size());
  }
  bool exited(std::size_t i) const { return state_[i] != State::running; }
  /// Reports target `i` exited, and with --reaped, reaped too if it is no zombie.
  /// True when its reap is still to come.
  bool exited(std::size_t i, const ExitInfo& e) {
    state_[i] = State::exited;
    out_.push_back({EventKind::exited, i, e.status, e.zombie, e.parent});
    if (!follow_reap_) return false;
    status_[i] = e.status;
    if (e.zombie) return true;
    reaped(i);
    return false;
  }
  void reaped(std::size_t i) {
    if (!follow_reap_ || state_[i] == State::reaped) return;
    state_[i] = State::reaped;
    out_.push_back({EventKind::reaped, i, targets_[i].reaped_status(status_[i])});
  }

 private:
  enum class State : std::uint8_t { running, exited, reaped };
  Events& out_;
  const bool follow_reap_;
  std::span<PidRef> targets_;
  std::vector<State> state_;
  std::vector<std::optional<int>> status_;  // with --reaped: what `exited` said
};

}  // namespace pwait
