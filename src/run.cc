#include "pwait/run.h"

#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/footprint.h"
#include "pwait/policy.h"
#include "pwait/progress.h"
#include "pwait/tree.h"

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

// One wait, from the backend's start to the exit code: the policy's state
// (the tally, what each target's report needs) and the steps it takes.
class Wait final : public EventLoop::Source {
 public:
  Wait(const Options& o, Targets& targets, EventLoop& loop, Reporter& reporter)
      : o_(o),
        targets_(targets),
        loop_(loop),
        reporter_(reporter),
        processes_(targets.pinned.size()),
        tally_(processes_ + targets.cgroups.size(), targets.missing.size(), condition_of(o)),
        zombie_parent_(o.json && o.reaped ? processes_ : 0),
        unreaped_(loop, tally_, targets, reporter) {
    tally_.statusless_from(processes_);  // a cgroup has no exit status: its end is no failure
    // Room for every event a target can have (exited, then reaped), so a
    // backend reporting thousands at once never makes the vector grow by
    // copying: pages never written stay out of pwait's RSS.
    events_.reserve((o.reaped ? 2 : 1) * processes_);
    loop.watch_signal(SIGUSR1, *this);  // status on demand, as dd
  }
  ~Wait() { loop_.forget(*this); }
  Wait(const Wait&) = delete;
  Wait& operator=(const Wait&) = delete;

  // SIGUSR1: one line on stderr per target still waited for, its PID
  // first as FreeBSD's SIGINFO has it: "1234 (make): waited for 2m10s".
  void signalled(const signalfd_siginfo&) override {
    std::string since = human_duration(loop_.elapsed());
    for (std::size_t i = 0; i < tally_.size(); ++i) {
      if (!left(i)) continue;
      if (i >= processes_) {
        reporter_.output().err(
            fmt::format("cgroup {}: waited for {}", printable(targets_.cgroups[i - processes_].path), since));
        continue;
      }
      const PidRef& t = targets_.pinned[i];
      // Ended already, its event not yet read (it comes in the same turn
      // of the loop): not left.
      PidRef::Life life = t.life();
      bool tree_left = tree_ && tree_->running(i) > 0;
      if (!tree_left && (life == PidRef::Life::reaped || (life == PidRef::Life::exited && !o_.reaped))) continue;
      auto st = t.stat();
      std::string line =
          fmt::format("{}{}: waited for {}", t.pid(), st ? " (" + printable(st->comm) + ")" : "", since);
      if (tally_.state(i) == Tally::State::exited) line += "; it has exited, not yet been reaped";
      else if (tree_ && life != PidRef::Life::running)
        line += fmt::format("; it has ended, {} of its descendants have not", tree_->running(i));
      reporter_.output().err(line);
    }
  }

  int run(std::span<const Backend> table) {
    {
      // The sources live in this scope: destroying them releases every
      // target (detaches, unsubscribes) before pwait reports how it ended;
      // and what a probe kept for a backend that did not run goes with it.
      struct ReleaseProbes {
        std::span<const Backend> table;
        ~ReleaseProbes() { release_backends(table); }
      } release_probes{table};
      std::unique_ptr<Waiter> waiter;
      CgroupWatch cgroups(loop_, events_, processes_, o_.reaped);
      // Stopped already (while a pidfile was read): nothing is started.
      if (!loop_.stopped()) waiter = start(table, cgroups);
      for (pid_t pid : targets_.missing) reporter_.missing(pid, o_.exited_ok);
      for (bool first = true; started_; first = false) {
        take_events(first);
        if (tally_.done() || failed_ || loop_.stopped()) break;
        if (first) shed_startup_pages();  // set-up is over: pwait goes to sleep
        loop_.run_once();
      }
      how_.stop_signal = loop_.stop_signal();
      how_.timed_out = !how_.stop_signal && !failed_ && (!started_ || !tally_.done());
      if (started_ && !how_.stop_signal && (how_.timed_out || failed_) && (o_.signal || o_.kill_after)) act();
      progress_.reset();  // the line goes before the last report
      tree_.reset();
    }
    if (int sig = loop_.stop_signal()) how_.stop_signal = sig;  // one that came while acting
    report_end();
    if (failed_ && !how_.stop_signal) return failed_code_;
    return exit_code_for(how_, tally_, condition_of(o_));
  }

 private:
  // Grace after the last signal pwait sends before it stops waiting.
  static constexpr Duration kGrace = seconds(10);

  std::unique_ptr<Waiter> start(std::span<const Backend> table, CgroupWatch& cgroups) {
    Request request = request_of(o_);
    request.deadline = loop_.deadline();
    std::unique_ptr<Waiter> waiter;
    try {
      BackendChoice choice(table, o_.backend, targets_.pinned, request);
      const Backend* backend = nullptr;
      waiter = pwait::start(choice, o_.backend == "auto", request, loop_, events_, targets_.pinned, backend);
      if (auto note = waiter->note(); note && o_.verbose) reporter_.diagnostic("note: " + *note);
      cgroups.watch(targets_.cgroups);
      if (o_.tree) {
        tree_ = std::make_unique<TreeWatch>(loop_, events_, targets_.pinned);
        if (auto why = tree_->watch(); why && o_.verbose)
          reporter_.diagnostic(fmt::format(
              "note: descendants are found by scanning every 100ms, and one whose parent ends between "
              "two scans is missed ({})",
              *why));
      }
      started_ = true;
      reporter_.set_backend(backend->name);
      if (o_.progress && Progress::possible())
        progress_ = std::make_unique<Progress>(loop_, reporter_.output(), [this] { return progress_line(); });
      if (backend->intrusive && o_.backend == "auto")
        reporter_.diagnostic(fmt::format(
            "note: using the {} backend, the only one here that can learn every exit status; while it "
            "watches, a target sees EINTR for signals it ignores (see BACKENDS in pwait(1))",
            backend->name));
    } catch (const WatchError&) {
      // A set-up that waited on the kernel past the deadline (the proc
      // connector's answer) is a timeout, not a failure.
      if (!request.deadline || Clock::now() < *request.deadline) throw;
    }
    return waiter;
  }

  Who who(std::size_t i) const {
    if (i >= processes_) return Who{.pid = 0, .cgroup = &targets_.cgroups[i - processes_].path};
    return Who{.pid = targets_.pinned[i].pid(),
               .name = targets_.names.empty() ? nullptr : &targets_.names[i],
               .inode = targets_.pinned[i].inode(),
               .descendants = tree_ ? std::optional(tree_->descendants(i)) : std::nullopt};
  }

  // What the sources reported since the last call: into the tally, and said.
  void take_events(bool first) {
    for (std::size_t k = 0; k < events_.size(); ++k) {
      // (By index: a tree releasing a root's held end appends to events.)
      const Event e = events_[k];
      if (tree_ && tally_.pending(e.target) && tree_->hold(e)) continue;
      if (!tally_.take(e)) continue;
      if (e.zombie && !zombie_parent_.empty()) zombie_parent_[e.target] = e.parent;
      // That it is a zombie is worth saying only where it lasts: a target
      // found so when pwait began, or waited for to be reaped; not the
      // moment between an exit and a prompt parent's reap.
      reporter_.event(e, who(e.target), first || o_.reaped);
      if (o_.reaped && e.kind == EventKind::exited && e.target < processes_) unreaped_.exited(e);
      // --fail-fast: a known failure at the event that ends the target (an
      // unknown status is none); its code is pwait's, whatever came before.
      bool ends = o_.reaped ? e.kind == EventKind::reaped : e.kind == EventKind::exited;
      if (o_.fail_fast && !failed_ && ends && e.target < processes_ && e.status && status_exit_code(e.status) != 0) {
        failed_ = true;
        failed_target_ = e.target;
        failed_code_ = status_exit_code(e.status);
      }
    }
    if (progress_ && !events_.empty()) progress_->update();
    events_.clear();
    if (tree_ && tree_->lost() && !said_lost_) {
      said_lost_ = true;
      if (o_.verbose)
        reporter_.diagnostic("process events were lost (too many at once); the trees were scanned again, and a "
                             "descendant whose parent ended meanwhile may have been missed");
    }
  }

  // --progress: "waiting for 3 of 5, 2m10s: 1234 make, 5678 cc1plus".
  std::string progress_line() const {
    std::size_t left_n = 0;
    std::string some;
    for (std::size_t i = 0; i < tally_.size(); ++i) {
      if (!left(i)) continue;
      if (++left_n > 8) continue;  // the width cuts the line before these
      some += some.empty() ? ": " : ", ";
      if (i >= processes_) {
        some += "cgroup " + printable(targets_.cgroups[i - processes_].path);
        continue;
      }
      some += fmt::format("{}", targets_.pinned[i].pid());
      if (auto st = targets_.pinned[i].stat()) some += " " + printable(st->comm);
    }
    return fmt::format("waiting for {} of {}, {}{}", left_n, tally_.size() + targets_.missing.size(),
                       human_duration(loop_.elapsed()), some);
  }

  // Target `i` is still waited for (before any backend started: as the
  // target itself says).
  bool left(std::size_t i) const {
    if (!tally_.pending(i)) return false;
    return started_ || i >= processes_ || still_pending(targets_.pinned[i], o_.reaped);
  }
  bool any_left() const {
    for (std::size_t i = 0; i < tally_.size(); ++i)
      if (left(i)) return true;
    return false;
  }

  // Given up (the timeout, or a failure with --fail-fast): -s to what is
  // left, then after -k SIGKILL to what is left then; each time waiting
  // (bounded) for them to end, and saying how they did.
  void act() {
    if (!any_left()) return;
    if (o_.signal) {
      send(o_.signal);
      wait_a_while(o_.kill_after.value_or(kGrace));
    } else {
      wait_a_while(*o_.kill_after);
    }
    if (o_.kill_after && any_left() && !loop_.stop_signal()) {
      send(SIGKILL);
      wait_a_while(kGrace);
    }
  }

  void send(int sig) {
    std::string to;
    for (std::size_t i = 0; i < tally_.size(); ++i) {
      if (!left(i)) continue;
      if (i >= processes_) {
        signal_cgroup(targets_.cgroups[i - processes_], sig);
        to += " cgroup " + printable(targets_.cgroups[i - processes_].path);
        continue;
      }
      // Through the pinned record, never by number: a target whose PID
      // names another process by now is not signalled.
      const PidRef& t = targets_.pinned[i];
      if (t.life() == PidRef::Life::running) t.send_signal(sig);
      if (tree_) tree_->signal(i, sig);
      to += fmt::format(" {}", t.pid());
    }
    if (sig == SIGKILL) how_.killed = true;
    if (o_.verbose) reporter_.diagnostic(fmt::format("sending {} to:{}", signal_name(sig), to));
  }

  void wait_a_while(Duration d) {
    loop_.set_deadline(Clock::now() + d);
    while (any_left() && !loop_.stopped()) {
      loop_.run_once();
      take_events(false);
    }
  }

  void report_end() {
    if (how_.timed_out || failed_) {
      std::string still;
      for (std::size_t i = 0; i < tally_.size(); ++i) {
        if (!left(i)) continue;
        if (i >= processes_) {
          still += " cgroup " + printable(targets_.cgroups[i - processes_].path);
          if (how_.timed_out) reporter_.still_pending(who(i), false, 0);
          continue;
        }
        still += fmt::format(" {}", targets_.pinned[i].pid());
        bool zombie = tally_.state(i) == Tally::State::exited;
        if (how_.timed_out)
          reporter_.still_pending(who(i), zombie, zombie && !zombie_parent_.empty() ? zombie_parent_[i] : 0);
      }
      if (how_.timed_out) reporter_.timed_out(*o_.timeout, o_.reaped, targets_.complete, still);
      else if (o_.verbose)
        reporter_.diagnostic(fmt::format("{} failed: not waiting for the rest{}{}", targets_.pinned[failed_target_].pid(),
                                         still.empty() ? "" : "; still running:", still));
    }
    if (o_.print_remaining && (how_.timed_out || failed_ || how_.stop_signal)) {
      // FreeBSD's -p: the PIDs still waited for, ascending, one a line.
      std::vector<pid_t> pids;
      for (std::size_t i = 0; i < processes_; ++i)
        if (left(i)) pids.push_back(targets_.pinned[i].pid());
      std::sort(pids.begin(), pids.end());
      reporter_.remaining(pids);
    }
  }

  const Options& o_;
  Targets& targets_;
  EventLoop& loop_;
  Reporter& reporter_;
  const std::size_t processes_;
  Tally tally_;
  Events events_;
  // The parents of zombies still to be reaped, for the JSON timeout report.
  std::vector<pid_t> zombie_parent_;
  UnreapedWarning unreaped_;
  std::unique_ptr<TreeWatch> tree_;  // --tree: holds a root's end until its descendants' ends
  std::unique_ptr<Progress> progress_;
  bool started_ = false;
  bool failed_ = false;  // --fail-fast: a target failed
  std::size_t failed_target_ = 0;
  int failed_code_ = 0;
  bool said_lost_ = false;
  Outcome how_;
};

}  // namespace

int wait_for(const Options& o, Targets& targets, std::span<const Backend> table, EventLoop& loop,
             Reporter& reporter) {
  return Wait(o, targets, loop, reporter).run(table);
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

// SIGUSR1 before the wait has begun (while pidfiles are read): it says so,
// and never ends pwait.
class Gathering final : public EventLoop::Source {
 public:
  Gathering(EventLoop& loop, Reporter& reporter) : loop_(loop), reporter_(reporter) {
    loop.watch_signal(SIGUSR1, *this);
  }
  ~Gathering() { loop_.forget(*this); }
  Gathering(const Gathering&) = delete;
  Gathering& operator=(const Gathering&) = delete;
  void signalled(const signalfd_siginfo&) override {
    reporter_.diagnostic(fmt::format("{}: still reading the pidfiles", human_duration(loop_.elapsed())));
  }

 private:
  EventLoop& loop_;
  Reporter& reporter_;
};

int gather_and_wait(const Options& o, EventLoop& loop, Output& output) {
  Reporter reporter(output, o.verbose, o.json, loop);
  auto gathering = std::make_optional<Gathering>(loop, reporter);
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
  gathering.reset();  // a SIGUSR1 from now on waits, blocked, for the wait's own report
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
  if (o.tree) {
    auto why = TreeWatch::inexact_why();
    output.out(fmt::format("{:<8} {:<11} {}", "--tree", why ? "scanning" : "exact",
                           why ? "every 100ms: a descendant whose parent ends between two scans is missed (" + *why + ")"
                               : "descendants from the proc connector's fork events"));
  }
}

}  // namespace pwait
