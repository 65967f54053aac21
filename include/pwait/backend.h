#pragma once
// The ordered table of backends: what `--backend auto` walks and what
// `--list-backends` prints.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/pidref.h"
#include "pwait/waiter.h"

namespace pwait {

struct Backend {
  std::string_view name;
  std::string_view summary;  ///< one line for --list-backends
  /// Why this backend cannot serve `request` for `targets` here, or nullopt
  /// when it can. No targets asks only "does it work here at all?".
  std::optional<std::string> (*probe)(std::span<const PidRef> targets, const Request& request);
  std::unique_ptr<Waiter> (*create)(EventLoop& loop, const Request& request, Events& out);
  /// Lets go of what a probe kept for a Waiter that was never created (or nullptr).
  void (*release)() = nullptr;
  /// It changes what a target sees (ptrace): `auto` takes it only where
  /// nothing else can promise a status asked for with -x, and says so.
  bool intrusive = false;
};

/// Calls every backend's release(): before pwait exits.
void release_backends(std::span<const Backend> table);

/// Every backend, in the order `auto` tries them.
std::span<const Backend> backends();
/// The backend called `name`, or nullptr.
const Backend* find_backend(std::string_view name);

/// Walks the backends that may serve `request` for `targets`, best first,
/// probing each only when it is its turn: the named one, or with "auto"
/// every one in the table that can; with --exit-status, first those that can
/// also promise every status. `auto` takes an intrusive backend only in
/// that first pass, and falls back to the next when one fails to start.
class BackendChoice {
 public:
  /// Walks `table` (backends(), or a test's).
  BackendChoice(std::span<const Backend> table, std::string_view name, std::span<const PidRef> targets,
                const Request& request);
  /// The next backend to try; nullptr when none is left. Throws WatchError
  /// with the reasons when nothing at all can serve.
  const Backend* next();

 private:
  const Backend* find(std::string_view name) const;
  std::span<const Backend> table_;
  std::string_view name_;
  std::span<const PidRef> targets_;
  Request request_;
  bool strict_pass_;  // with -x: looking for one that promises every status
  std::size_t at_ = 0;
  std::vector<const Backend*> tried_;
  std::string reasons_;
};

/// Why pidfds cannot be had here at all, or nullopt (the pidfd backend's first question).
std::optional<std::string> pidfd_availability();

// Each src/waiter_NAME.cc provides one probe and one factory for the table.
std::optional<std::string> pidfd_probe(std::span<const PidRef> targets, const Request& request);
std::unique_ptr<Waiter> pidfd_create(EventLoop& loop, const Request& request, Events& out);
std::optional<std::string> netlink_probe(std::span<const PidRef> targets, const Request& request);
std::unique_ptr<Waiter> netlink_create(EventLoop& loop, const Request& request, Events& out);
void netlink_release();
std::optional<std::string> ptrace_probe(std::span<const PidRef> targets, const Request& request);
std::unique_ptr<Waiter> ptrace_create(EventLoop& loop, const Request& request, Events& out);
std::optional<std::string> poll_probe(std::span<const PidRef> targets, const Request& request);
std::unique_ptr<Waiter> poll_create(EventLoop& loop, const Request& request, Events& out);

}  // namespace pwait
