#pragma once
// What a backend reports about a target: the only vocabulary between the
// kernel-specific backends and the policy above them.

#include <sys/types.h>

#include <cstddef>
#include <optional>

namespace pwait {

enum class EventKind {
  exited,  ///< the whole thread group has exited (it may still be a zombie)
  reaped,  ///< its parent has reaped it: the PID is gone
};

/// One thing that happened to one target. For each target a backend reports
/// `exited` once followed (only when asked to follow reaps) by `reaped` once.
struct Event {
  EventKind kind;
  std::size_t target;         ///< index into the targets given to Waiter::watch
  std::optional<int> status;  ///< wait(2)-style status; nullopt when it cannot be known
  bool zombie = false;        ///< exited: still a zombie, its parent has not reaped it
  pid_t parent = 0;           ///< zombie: the parent that has not reaped it (0 if unknown)
};

}  // namespace pwait
