#pragma once
// The contract every backend implements.

#include <sys/types.h>

#include <optional>
#include <span>
#include <vector>

#include "pwait/event.h"
#include "pwait/event_loop.h"

namespace pwait {

/// What the policy asks of a backend, beyond the PIDs.
struct WatchSpec {
  bool follow_reap = false;      ///< after `exited`, keep watching until `reaped`
  std::optional<Duration> interval;  ///< fixed poll interval (poll backend); adaptive when unset
  /// Someone will look at the status, zombie flag or parent (-x, -v, -j, --reaped).
  /// When false a backend may report a bare `exited` and skip reading /proc.
  bool want_details = true;
};

/// Turns kernel notifications about a set of processes into Events. A Waiter
/// never decides when pwait is done: it reports, the policy counts.
class Waiter {
 public:
  virtual ~Waiter() = default;

  /// Starts watching `pids` (distinct, valid numbers; they stay alive as long
  /// as the Waiter). Before returning it appends a `missing` event for every
  /// PID that does not exist, and may append events for targets that have
  /// already ended. Throws WatchError when a target cannot be watched at all
  /// (permission, fd limit), naming the target and the reason.
  virtual void watch(std::span<const pid_t> pids, std::vector<Event>& out) = 0;

  /// Blocks until it has appended at least one event, or the loop has
  /// stopped (deadline or stop signal). Never reports a target twice.
  virtual void wait(std::vector<Event>& out) = 0;
};

}  // namespace pwait
