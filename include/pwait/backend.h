#pragma once
// The ordered table of backends: what `--backend auto` walks and what
// `--list-backends` prints.

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pwait/event_loop.h"
#include "pwait/waiter.h"

namespace pwait {

/// What a probe may take into account when deciding whether it can serve.
/// An empty Needs asks only "does this backend work here at all?".
struct Needs {
  std::span<const pid_t> pids;  ///< the PIDs that will be watched
  bool want_status = false;     ///< --exit-status was given
  bool follow_reap = false;     ///< --reaped was given
  /// Set by `auto` on its first pass when --exit-status was given: decline
  /// unless every target's exit status can be known, however it ends.
  bool must_know_status = false;
};

struct Backend {
  std::string_view name;
  std::string_view summary;  ///< one line for --list-backends
  /// Why this backend cannot serve `needs` here, or nullopt when it can.
  std::optional<std::string> (*probe)(const Needs& needs);
  std::unique_ptr<Waiter> (*create)(EventLoop& loop, const WatchSpec& spec);
};

/// Every backend, in the order `auto` tries them.
std::span<const Backend> backends();
/// The backend called `name`, or nullptr.
const Backend* find_backend(std::string_view name);

/// Chooses the backend for `needs`: the named one (WatchError with its reason
/// when it cannot serve), or with "auto" the first in the table that can;
/// with --exit-status, the first that can also promise every status, if any.
const Backend& choose_backend(std::string_view name, const Needs& needs);

}  // namespace pwait

namespace pwait {

// Each src/waiter_NAME.cc provides one probe and one factory for the table.
std::optional<std::string> pidfd_probe(const Needs& needs);
std::unique_ptr<Waiter> pidfd_create(EventLoop& loop, const WatchSpec& spec);
std::optional<std::string> netlink_probe(const Needs& needs);
std::unique_ptr<Waiter> netlink_create(EventLoop& loop, const WatchSpec& spec);
std::optional<std::string> ptrace_probe(const Needs& needs);
std::unique_ptr<Waiter> ptrace_create(EventLoop& loop, const WatchSpec& spec);
std::optional<std::string> poll_probe(const Needs& needs);
std::unique_ptr<Waiter> poll_create(EventLoop& loop, const WatchSpec& spec);

}  // namespace pwait
