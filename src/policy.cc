#include "pwait/policy.h"

#include <algorithm>

#include "pwait/exit_codes.h"
#include "pwait/report.h"

namespace pwait {

Tally::Tally(std::size_t targets, std::size_t missing, const Condition& condition)
    : condition_(condition), state_(targets, State::watching), missing_(missing) {
  // The missing ones end at once with -e; without, they cannot end and the
  // condition asks for at most what can.
  std::size_t named = targets + missing;
  std::size_t wanted = condition.count ? condition.count : named;
  std::size_t possible = condition.exited_ok ? named : targets;
  needed_ = std::min(wanted, possible);
  if (condition.exited_ok) ended_ = missing;
}

bool Tally::take(const Event& e) {
  State& s = state_.at(e.target);
  switch (e.kind) {
    case EventKind::exited:
      if (s != State::watching) return false;
      s = State::exited;
      if (!condition_.reaped) end(e.target, e.status);
      return true;
    case EventKind::reaped:
      if (s != State::exited) return false;
      s = State::reaped;
      if (condition_.reaped) end(e.target, e.status);
      return true;
  }
  return false;
}

bool Tally::pending(std::size_t i) const {
  return condition_.reaped ? state_[i] != State::reaped : state_[i] == State::watching;
}

void Tally::end(std::size_t target, const std::optional<int>& status) {
  ++ended_;
  if (target >= statusless_from_) return;
  int code = status_exit_code(status);
  if (code != 0 && !first_failure_) first_failure_ = code;
}

int exit_code_for(const Outcome& how, const Tally& tally, const Condition& condition) {
  if (how.stop_signal) return exit_code::signal_base + how.stop_signal;
  if (how.timed_out) return how.killed ? exit_code::killed : exit_code::timeout;
  if (condition.exit_status && tally.first_failure()) return *tally.first_failure();
  if (tally.missing() && !condition.exited_ok) return exit_code::missing;
  return exit_code::ok;
}

}  // namespace pwait
