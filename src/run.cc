#include "pwait/run.h"

#include <unistd.h>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/footprint.h"
#include "pwait/policy.h"

namespace pwait {
namespace {

Condition condition_of(const Options& o) {
  return {.count = o.count, .reaped = o.reaped, .exited_ok = o.exited_ok, .exit_status = o.exit_status};
}

Request request_of(const Options& o) {
  return {.follow_reap = o.reaped,
          .want_details = o.exit_status || o.verbose || o.json || o.reaped,
          .want_status = o.exit_status,
          .interval = o.interval};
}

// Starts the first backend `choice` offers that starts: a backend chosen by
// `auto` whose watch() fails (the kernel refused what its probe expected)
// gives way to the next, with every target released.
std::unique_ptr<Waiter> start(BackendChoice& choice, bool automatic, const Request& request, EventLoop& loop,
                              Events& events, std::span<PidRef> targets, const Backend*& chosen) {
  std::optional<WatchError> failed;
  while (const Backend* b = choice.next()) {
    auto waiter = b->create(loop, request, events);
    try {
      waiter->watch(targets);
      chosen = b;
      return waiter;
    } catch (const WatchError& e) {
      if (!automatic) throw;
      failed.emplace(fmt::format("backend {}: {}", b->name, e.what()));
    }
    waiter.reset();  // releases whatever it held before the next one starts
    events.clear();
  }
  throw *failed;
}

}  // namespace

int wait_for(const Options& o, Targets& targets, std::span<const Backend> table, EventLoop& loop,
             Reporter& reporter) {
  const Condition condition = condition_of(o);
  Request request = request_of(o);
  request.deadline = loop.deadline();
  Tally tally(targets.pinned.size(), targets.missing.size(), condition);
  auto pid_of = [&](std::size_t i) { return targets.pinned[i].pid(); };
  // Room for every event a target can have (exited, then reaped), so a
  // backend reporting thousands at once never makes the vector grow by
  // copying: pages never written stay out of pwait's RSS.
  Events events;
  events.reserve((o.reaped ? 2 : 1) * targets.pinned.size());
  // The parents of zombies still to be reaped, for the JSON timeout report.
  std::vector<pid_t> zombie_parent(o.json && o.reaped ? targets.pinned.size() : 0);
  bool started = false;
  {
    // The waiter lives in this scope: destroying it releases every target
    // (detaches, unsubscribes) before pwait reports how it ended; and what
    // a probe kept for a backend that did not run goes with it.
    struct ReleaseProbes {
      std::span<const Backend> table;
      ~ReleaseProbes() { release_backends(table); }
    } release_probes{table};
    std::unique_ptr<Waiter> waiter;
    try {
      BackendChoice choice(table, o.backend, targets.pinned, request);
      const Backend* backend = nullptr;
      waiter = start(choice, o.backend == "auto", request, loop, events, targets.pinned, backend);
      started = true;
      reporter.set_backend(backend->name);
      if (backend->intrusive && o.backend == "auto")
        reporter.diagnostic(fmt::format(
            "note: using the {} backend, the only one here that can learn every exit status; while it "
            "watches, a target sees EINTR for signals it ignores (see BACKENDS in pwait(1))",
            backend->name));
    } catch (const WatchError&) {
      // A set-up that waited on the kernel past the deadline (the proc
      // connector's answer) is a timeout, not a failure.
      if (!request.deadline || Clock::now() < *request.deadline) throw;
    }
    for (pid_t pid : targets.missing) reporter.missing(pid, o.exited_ok);
    for (bool first = true; started; first = false) {
      for (const Event& e : events) {
        if (!tally.take(e)) continue;
        if (e.zombie && !zombie_parent.empty()) zombie_parent[e.target] = e.parent;
        reporter.event(e, pid_of(e.target));
        if (o.reaped && e.kind == EventKind::exited && e.zombie && e.parent == getppid())
          reporter.diagnostic(fmt::format(
              "warning: {} is a zombie child of pwait's own parent ({}), which may not reap it before pwait exits",
              pid_of(e.target), e.parent));
      }
      events.clear();
      if (tally.done() || loop.stopped()) break;
      if (first) shed_startup_pages();  // set-up is over: pwait goes to sleep
      loop.run_once();
    }
  }
  Outcome how;
  if (!tally.done()) {
    how.stop_signal = loop.stop_signal();
    how.timed_out = !how.stop_signal;
  }
  if (how.timed_out) {
    std::string still;
    for (std::size_t i = 0; i < tally.size(); ++i) {
      if (!tally.pending(i)) continue;
      still += fmt::format(" {}", pid_of(i));
      bool zombie = tally.state(i) == Tally::State::exited;
      reporter.still_pending(pid_of(i), zombie, zombie && !zombie_parent.empty() ? zombie_parent[i] : 0);
    }
    reporter.timed_out(*o.timeout, o.reaped, still);
  }
  return exit_code_for(how, tally, condition);
}

int run(const Options& o, Clock::time_point started, Output& output) {
  EventLoop loop(started, o.timeout);
  Reporter reporter(output, o.verbose, o.json, loop);
  Targets targets = pin_all(o.pids);
  return wait_for(o, targets, backends(), loop, reporter);
}

void list_backends(Output& output) {
  for (const Backend& b : backends()) {
    auto why = b.probe({}, {});
    output.out(fmt::format("{:<8} {:<11} {}", b.name, why ? "unavailable" : "usable", why ? *why : std::string(b.summary)));
  }
  release_backends(backends());
}

}  // namespace pwait
