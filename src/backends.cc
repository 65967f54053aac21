#include "pwait/backend.h"

#include <algorithm>

#include <fmt/format.h>

#include "pwait/error.h"

namespace pwait {
namespace {

// The order is the `auto` order: the first backend whose probe accepts the
// request serves it (see man/pwait.1, BACKENDS, for the reasons).
const Backend kBackends[] = {
    {.name = "pidfd",
     .summary = "pidfd_open(2) + epoll: no privilege, immune to PID reuse",
     .probe = pidfd_probe,
     .create = pidfd_create},
    {.name = "netlink",
     .summary = "proc connector: one socket for any number of targets, status at exit time",
     .probe = netlink_probe,
     .create = netlink_create,
     .release = netlink_release},
    {.name = "ptrace",
     .summary = "PTRACE_SEIZE: status before any reap; while traced, a target's blocking call "
                "fails with EINTR even on a signal it ignores, and no debugger can attach",
     .probe = ptrace_probe,
     .create = ptrace_create,
     .intrusive = true},
    {.name = "poll", .summary = "kill(2) + /proc polling: the last resort", .probe = poll_probe, .create = poll_create},
};

}  // namespace

std::span<const Backend> backends() { return kBackends; }

const Backend* find_backend(std::string_view name) {
  for (const Backend& b : kBackends)
    if (b.name == name) return &b;
  return nullptr;
}

void release_backends(std::span<const Backend> table) {
  for (const Backend& b : table)
    if (b.release) b.release();
}

BackendChoice::BackendChoice(std::span<const Backend> table, std::string_view name,
                             std::span<const PidRef> targets, const Request& request)
    : table_(table), name_(name), targets_(targets), request_(request),
      strict_pass_(request.want_status && name == "auto") {
  if (name != "auto" && !find(name)) throw UsageError(fmt::format("unknown backend '{}'", name));
}

const Backend* BackendChoice::find(std::string_view name) const {
  for (const Backend& b : table_)
    if (b.name == name) return &b;
  return nullptr;
}

const Backend* BackendChoice::next() {
  if (name_ != "auto") {
    if (at_++ > 0) return nullptr;
    const Backend& b = *find(name_);
    Request r = request_;
    r.backend_named = true;
    if (auto why = b.probe(targets_, r)) throw WatchError(fmt::format("backend {}: {}", name_, *why));
    return &b;
  }
  for (;;) {
    if (at_ == table_.size()) {
      if (!strict_pass_) break;
      // None can promise every status: the first that works at all (a status may then be unknown).
      strict_pass_ = false;
      at_ = 0;
    }
    const Backend& b = table_[at_++];
    if (std::find(tried_.begin(), tried_.end(), &b) != tried_.end()) continue;
    if (b.intrusive && !strict_pass_) {
      reasons_ += fmt::format("; {}: taken by auto only where nothing else can know a status -x asks for", b.name);
      continue;
    }
    Request r = request_;
    r.must_know_status = strict_pass_;
    auto why = b.probe(targets_, r);
    if (!why) {
      tried_.push_back(&b);
      return &b;
    }
    if (!strict_pass_) reasons_ += fmt::format("; {}: {}", b.name, *why);
  }
  if (tried_.empty()) throw WatchError("no usable backend" + reasons_);
  return nullptr;
}

}  // namespace pwait
