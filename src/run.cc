#include "pwait/run.h"

#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/footprint.h"
#include "pwait/policy.h"

namespace pwait {
namespace {

using std::chrono::seconds;

// With --reaped, a zombie of pwait's own parent still unreaped this long
// after its exit is worth a warning: that parent may be waiting for pwait
// (a shell that reaps only between commands would deadlock). Shells reap a
// background job at once, so a shorter zombie life says nothing.
constexpr Duration kUnreapedWarning = seconds(1);

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

// Warns, once each, of zombies of pwait's own parent that stay unreaped.
class UnreapedWarning final : public EventLoop::Source {
 public:
  UnreapedWarning(EventLoop& loop, const Tally& tally, const Targets& targets, Reporter& reporter)
      : loop_(loop), tally_(tally), targets_(targets), reporter_(reporter) {}
  ~UnreapedWarning() { loop_.forget(*this); }

  void exited(const Event& e) {
    if (!e.zombie || e.parent != getppid()) return;
    if (watched_.empty()) loop_.set_timer(*this, Clock::now() + kUnreapedWarning);
    watched_.push_back({e.target, e.parent, Clock::now() + kUnreapedWarning});
  }

  void expired() override {
    auto now = Clock::now();
    std::erase_if(watched_, [&](const Zombie& z) {
      if (z.due > now) return false;
      if (tally_.state(z.target) == Tally::State::exited)
        reporter_.diagnostic(fmt::format(
            "warning: {} exited {:g}s ago and its parent {} (pwait's own parent) has not reaped it: "
            "if that parent waits for pwait first, neither ends",
            targets_.pinned[z.target].pid(), std::chrono::duration<double>(kUnreapedWarning).count(), z.parent));
      return true;
    });
    if (!watched_.empty()) loop_.set_timer(*this, watched_.front().due);
  }

 private:
  struct Zombie {
    std::size_t target;
    pid_t parent;
    Clock::time_point due;
  };
  EventLoop& loop_;
  const Tally& tally_;
  const Targets& targets_;
  Reporter& reporter_;
  std::vector<Zombie> watched_;
};

// Whether target `t` is still waited for, asked of the target itself: for
// a wait that ended before any backend looked.
bool still_pending(const PidRef& t, bool reaped) {
  PidRef::Life life = t.life();
  return life == PidRef::Life::running || (reaped && life == PidRef::Life::exited);
}

// pgrep's warning: a process name is at most 15 bytes, so a longer plain
// pattern that matched nothing may have meant the command line.
void warn_of_a_long_name(const Criteria& c, bool matched, Reporter& reporter) {
  if (matched || !c.pattern || c.full || c.pattern->size() <= 15 ||
      c.pattern->find_first_of("|[") != std::string::npos)
    return;
  reporter.diagnostic(
      "a process name is at most 15 characters, so a longer pattern matches none; try --full to match "
      "the command line");
}

// --print-handles: each target as PID:INODE, on stdout.
int print_handles(const Targets& targets, bool exited_ok, Output& output, Reporter& reporter) {
  for (const PidRef& t : targets.pinned) {
    if (!t.inode()) throw WatchError("--print-handles needs pidfds on pidfs (Linux 6.9), which this kernel lacks");
    output.out(fmt::format("{}:{}", t.pid(), t.inode()));
  }
  for (pid_t pid : targets.missing) reporter.missing(pid, exited_ok);
  return targets.missing.empty() || exited_ok ? exit_code::ok : exit_code::missing;
}

}  // namespace

int wait_for(const Options& o, Targets& targets, std::span<const Backend> table, EventLoop& loop,
             Reporter& reporter) {
  const Condition condition = condition_of(o);
  Request request = request_of(o);
  request.deadline = loop.deadline();
  const std::size_t processes = targets.pinned.size();
  Tally tally(processes + targets.cgroups.size(), targets.missing.size(), condition);
  tally.statusless_from(processes);  // a cgroup has no exit status: its end is no failure
  auto pid_of = [&](std::size_t i) { return targets.pinned[i].pid(); };
  auto who = [&](std::size_t i) {
    if (i >= processes) return Who{.pid = 0, .cgroup = &targets.cgroups[i - processes].path};
    return Who{.pid = pid_of(i), .name = targets.names.empty() ? nullptr : &targets.names[i], .inode = targets.pinned[i].inode()};
  };
  // Room for every event a target can have (exited, then reaped), so a
  // backend reporting thousands at once never makes the vector grow by
  // copying: pages never written stay out of pwait's RSS.
  Events events;
  events.reserve((o.reaped ? 2 : 1) * targets.pinned.size());
  // The parents of zombies still to be reaped, for the JSON timeout report.
  std::vector<pid_t> zombie_parent(o.json && o.reaped ? targets.pinned.size() : 0);
  UnreapedWarning unreaped(loop, tally, targets, reporter);
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
    CgroupWatch cgroups(loop, events, processes, o.reaped);
    // Stopped already (while a pidfile was read): no backend is started.
    if (!loop.stopped()) try {
        BackendChoice choice(table, o.backend, targets.pinned, request);
        const Backend* backend = nullptr;
        waiter = start(choice, o.backend == "auto", request, loop, events, targets.pinned, backend);
        cgroups.watch(targets.cgroups);
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
        // That it is a zombie is worth saying only where it lasts: a target
        // found so when pwait began, or waited for to be reaped; not the
        // moment between an exit and a prompt parent's reap.
        reporter.event(e, who(e.target), first || o.reaped);
        if (o.reaped && e.kind == EventKind::exited && e.target < processes) unreaped.exited(e);
      }
      events.clear();
      if (tally.done() || loop.stopped()) break;
      if (first) shed_startup_pages();  // set-up is over: pwait goes to sleep
      loop.run_once();
    }
  }
  Outcome how;
  if (!started || !tally.done()) {  // (not started: the loop stopped first)
    how.stop_signal = loop.stop_signal();
    how.timed_out = !how.stop_signal;
  }
  if (how.timed_out) {
    std::string still;
    for (std::size_t i = 0; i < tally.size(); ++i) {
      if (!tally.pending(i)) continue;
      if (i >= processes) {
        still += " cgroup " + printable(targets.cgroups[i - processes].path);
        reporter.still_pending(who(i), false, 0);
        continue;
      }
      if (!started && !still_pending(targets.pinned[i], o.reaped)) continue;
      still += fmt::format(" {}", pid_of(i));
      bool zombie = tally.state(i) == Tally::State::exited;
      reporter.still_pending(who(i), zombie, zombie && !zombie_parent.empty() ? zombie_parent[i] : 0);
    }
    reporter.timed_out(*o.timeout, o.reaped, targets.complete, still);
  }
  return exit_code_for(how, tally, condition);
}

int run(const Options& o, Clock::time_point started, StdOutput& output) {
  EventLoop loop(started, o.timeout);
  // Output goes through the loop from here on: a stalled reader never
  // holds up the deadline, the targets or a stop signal.
  output.attach(loop);
  int code;
  try {
    code = gather_and_wait(o, loop, output);
  } catch (...) {
    output.drain();
    throw;
  }
  output.drain();
  if (int err = output.stdout_error()) {
    output.err(fmt::format("pwait: write to standard output: {}", strerror(err)));
    if (!loop.stop_signal()) return exit_code::unwatchable;
  }
  if (loop.stop_signal()) return exit_code::signal_base + loop.stop_signal();
  return code;
}

int gather_and_wait(const Options& o, EventLoop& loop, Output& output) {
  Reporter reporter(output, o.verbose, o.json, loop);
  // Pinned as they are named: a target that ends while a pidfile is still
  // being read has ended, it has not gone missing.
  TargetSet set(o.operands.size());
  if (o.json) set.keep_names();
  for (const Named& n : o.operands) set.add(n);
  bool complete = true;
  for (const std::string& file : o.pidfiles)
    if (!(complete = read_pidfile(loop, file, [&](const Named& n) { set.add(n); }, o.lock_pidfiles))) break;
  bool matched = false;
  if (complete && o.criteria.any()) {
    for (const Selected& s : select_processes(o.criteria, set)) {
      reporter.selected(s.pid, s.name, s.skipped);
      matched = matched || s.skipped.empty();
    }
    warn_of_a_long_name(o.criteria, matched, reporter);
  }
  Targets targets = set.take();
  targets.complete = complete;
  for (const std::string& c : o.cgroups) targets.cgroups.push_back(resolve_cgroup(c));
  for (pid_t pid : o.cgroup_of) {
    if (auto c = cgroup_of(pid)) targets.cgroups.push_back(std::move(*c));
    else targets.missing.push_back(pid);
  }
  if (complete && targets.size() == 0) {
    // Nothing to wait for, as pidwait when nothing matches: not a usage error.
    if (o.verbose) reporter.diagnostic(o.criteria.any() ? "no process matched" : "no PID to wait for: the pidfiles name none");
    return o.exited_ok ? exit_code::ok : exit_code::missing;
  }
  if (o.print_handles) return print_handles(targets, o.exited_ok, output, reporter);
  if (complete && o.count > targets.size())
    throw UsageError(fmt::format("invalid count '{}': must be a number from 1 to {} (the number of targets)",
                                 o.count, targets.size()));
  return wait_for(o, targets, backends(), loop, reporter);
}

void list_backends(const Options& o, Output& output) {
  TargetSet set(o.operands.size());
  for (const Named& n : o.operands) set.add(n);
  Targets targets = set.take();
  for (pid_t pid : targets.missing) output.err(fmt::format("pwait: {}: no such process", pid));
  Request request = request_of(o);
  for (const Backend& b : backends()) {
    auto why = b.probe(targets.pinned, request);
    if (!why && b.intrusive && !o.exit_status && !targets.pinned.empty())
      why = "auto takes it only where nothing else can know a status -x asks for";
    output.out(fmt::format("{:<8} {:<11} {}", b.name, why ? "unavailable" : "usable", why ? *why : std::string(b.summary)));
  }
  release_backends(backends());
}

}  // namespace pwait
