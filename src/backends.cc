#include "pwait/backend.h"

#include <fmt/format.h>

#include "pwait/error.h"

namespace pwait {
namespace {

// The order is the `auto` order: the first backend whose probe accepts the
// request serves it (see man/pwait.1, BACKENDS, for the reasons).
const Backend kBackends[] = {
    {"pidfd", "pidfd_open(2) + epoll: no privilege, immune to PID reuse", pidfd_probe,
     pidfd_create},
    {"netlink", "proc connector: one socket for any number of targets, status at exit time",
     netlink_probe, netlink_create},
    {"ptrace", "PTRACE_SEIZE + exit stop: status before any reap; intercepts the signals",
     ptrace_probe, ptrace_create},
    {"poll", "kill(2) + /proc polling: the last resort, reuse-safe by start time", poll_probe,
     poll_create},
};

}  // namespace

std::span<const Backend> backends() { return kBackends; }

const Backend* find_backend(std::string_view name) {
  for (const Backend& b : kBackends)
    if (b.name == name) return &b;
  return nullptr;
}

const Backend& choose_backend(std::string_view name, const Needs& needs) {
  if (name != "auto") {
    const Backend* b = find_backend(name);
    if (!b) throw UsageError(fmt::format("unknown backend '{}'", name));
    if (auto why = b->probe(needs)) throw WatchError(fmt::format("backend {}: {}", name, *why));
    return *b;
  }
  // With -x, first the backends that can promise every target's status;
  // if none can, the first that works at all (a status may then be unknown).
  if (needs.want_status) {
    Needs strict = needs;
    strict.must_know_status = true;
    for (const Backend& b : kBackends)
      if (!b.probe(strict)) return b;
  }
  std::string reasons;
  for (const Backend& b : kBackends) {
    auto why = b.probe(needs);
    if (!why) return b;
    reasons += fmt::format("; {}: {}", b.name, *why);
  }
  throw WatchError("no usable backend" + reasons);
}

}  // namespace pwait
