#pragma once
// The policy above the backends, in one place: per-target state counted
// against all / any / count, and how the wait ended mapped to pwait's exit
// code (the table in exit_codes.h). No I/O: testable with scripted events.

#include <cstddef>
#include <cstdint>
#include <climits>
#include <optional>
#include <vector>

#include "pwait/event.h"

namespace pwait {

/// What ends the wait.
struct Condition {
  std::size_t count = 0;     ///< targets that must end; 0 means all
  bool reaped = false;       ///< -r: a target ends when it is reaped
  bool exited_ok = false;    ///< -e: a missing PID counts as already ended
  bool exit_status = false;  ///< -x: the first failure decides the exit code
};

/// Per-target state. Events move a target's state forward; a repeated or
/// out-of-order event changes nothing, so a backend that reports twice
/// cannot make pwait return early.
class Tally {
 public:
  enum class State : std::uint8_t { watching, exited, reaped };

  /// `targets` watched, `missing` named but not there when pinned.
  Tally(std::size_t targets, std::size_t missing, const Condition& condition);

  /// Takes one event; true when it moved its target forward (report it).
  bool take(const Event& e);
  /// The condition is met.
  bool done() const { return ended_ >= needed_; }
  /// Target `i` is still waited for: not yet ended (with -r, not yet reaped).
  bool pending(std::size_t i) const;
  State state(std::size_t i) const { return state_[i]; }
  std::size_t size() const { return state_.size(); }
  std::size_t missing() const { return missing_; }
  /// The -x exit code of the first target that failed, if one did.
  std::optional<int> first_failure() const { return first_failure_; }
  /// Targets from `first` on have no exit status (cgroups): their end is
  /// no failure for -x.
  void statusless_from(std::size_t first) { statusless_from_ = first; }

 private:
  void end(std::size_t target, const std::optional<int>& status);

  Condition condition_;
  std::vector<State> state_;
  std::size_t missing_;
  std::size_t needed_;
  std::size_t ended_ = 0;
  std::optional<int> first_failure_;
  std::size_t statusless_from_ = SIZE_MAX;
};

/// How the wait ended, beyond the tally.
struct Outcome {
  int stop_signal = 0;     ///< pwait was stopped by this signal
  bool timed_out = false;  ///< the deadline passed first
  bool killed = false;     ///< then SIGKILL was sent to what was left (-k, -s KILL)
};

/// pwait's exit code: a stop signal (128+N), then the timeout (124; 137
/// when SIGKILL had to be sent, as timeout(1)), then
/// with -x the first failure, then a missing PID (1), else 0.
int exit_code_for(const Outcome& how, const Tally& tally, const Condition& condition);

}  // namespace pwait
