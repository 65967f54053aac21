#include "pwait/run.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/footprint.h"
#include "pwait/report.h"

namespace pwait {
namespace {

enum class State { watching, missing, exited, reaped };

std::string_view kind_name(EventKind k) {
  switch (k) {
    case EventKind::missing: return "missing";
    case EventKind::exited: return "exited";
    case EventKind::reaped: return "reaped";
  }
  return "?";
}

std::string format_duration(Duration d) {
  return fmt::format("{:g}s", std::chrono::duration<double>(d).count());
}

// Per-target state, counted against the condition. Events move a target's
// state forward; a repeated or out-of-order event changes nothing, so a
// backend that reports twice cannot make pwait return early.
class Tally {
 public:
  Tally(const Options& o, std::string_view backend, const EventLoop& loop)
      : o_(o),
        backend_(backend),
        loop_(loop),
        state_(o.pids.size(), State::watching),
        parent_(o.pids.size(), 0) {}

  void take(const Event& e) {
    State& s = state_.at(e.target);
    pid_t pid = o_.pids[e.target];
    switch (e.kind) {
      case EventKind::missing:
        if (s != State::watching) return;
        s = State::missing;
        ++missing_;
        if (o_.exited_ok) ++ended_;
        else fmt::print(stderr, "pwait: {}: no such process\n", pid);
        break;
      case EventKind::exited:
        if (s != State::watching) return;
        s = State::exited;
        if (e.zombie) parent_[e.target] = e.parent;
        if (!o_.reaped) end(e.status);
        else if (e.zombie && e.parent == getppid())
          fmt::print(stderr,
                     "pwait: warning: {} is a zombie child of pwait's own parent ({}), "
                     "which may not reap it before pwait exits\n",
                     pid, e.parent);
        break;
      case EventKind::reaped:
        if (s != State::exited) return;
        s = State::reaped;
        if (o_.reaped) end(e.status);
        break;
    }
    say(kind_name(e.kind), e, pid);
  }

  // How many targets must end; known once watch() has reported the missing ones.
  std::size_t needed() const {
    std::size_t wanted = o_.count ? o_.count : state_.size();
    std::size_t possible = state_.size() - (o_.exited_ok ? 0 : missing_);
    return std::min(wanted, possible);
  }
  bool done() const { return ended_ >= needed(); }

  void report_timeout() {
    std::string still;
    for (std::size_t i = 0; i < state_.size(); ++i) {
      bool pending = o_.reaped ? state_[i] == State::watching || state_[i] == State::exited
                               : state_[i] == State::watching;
      if (!pending) continue;
      still += fmt::format(" {}", o_.pids[i]);
      if (o_.json) {
        bool zombie = state_[i] == State::exited;
        say("timeout", {EventKind::exited, i, std::nullopt, zombie, zombie ? parent_[i] : 0}, o_.pids[i]);
      }
    }
    if (o_.verbose)
      fmt::print(stderr, "pwait: timed out after {}; still {}:{}\n", format_duration(*o_.timeout),
                 o_.reaped ? "not reaped" : "running", still);
  }

  int exit_code() const {
    if (o_.exit_status && first_failure_) return first_failure_;
    if (missing_ && !o_.exited_ok) return exit_code::missing;
    return exit_code::ok;
  }

 private:
  void end(const std::optional<int>& status) {
    ++ended_;
    int code = status_exit_code(status);
    if (code != 0 && first_failure_ == 0) first_failure_ = code;
  }

  void say(std::string_view kind, const Event& e, pid_t pid) {
    if (o_.json) {
      fmt::print("{}\n", json_line(kind, pid, e.status, e.zombie, e.parent, backend_, loop_.elapsed()));
    } else if (o_.verbose) {
      fmt::print("{}\n", verbose_line(e, pid));
    } else {
      return;
    }
    std::fflush(stdout);
  }

  const Options& o_;
  std::string_view backend_;
  const EventLoop& loop_;
  std::vector<State> state_;
  std::vector<pid_t> parent_;  // of a zombie target, from its exited event
  std::size_t missing_ = 0, ended_ = 0;
  int first_failure_ = 0;  // the first nonzero status_exit_code; 0: none yet
};

}  // namespace

int run(const Options& o, Clock::time_point started) {
  for (pid_t p : o.pids)
    if (p == getpid()) throw UsageError(fmt::format("{}: is pwait itself; it cannot wait for its own end", p));

  const Backend& backend = choose_backend(o.backend, {o.pids, o.exit_status, o.reaped});
  EventLoop loop(started, o.timeout);
  Tally tally(o, backend.name, loop);
  // Room for every event a target can have (exited, then reaped), so a
  // backend reporting thousands at once never makes the vector grow by
  // copying: pages never written stay out of pwait's RSS.
  std::vector<Event> events;
  events.reserve((o.reaped ? 2 : 1) * o.pids.size());
  {
    // The waiter lives in this scope: destroying it releases every target
    // (closes pidfds, detaches) before pwait reports how it ended.
    auto waiter = backend.create(
        loop, {o.reaped, o.interval, o.exit_status || o.verbose || o.json || o.reaped});
    waiter->watch(o.pids, events);
    for (bool first = true;; first = false) {
      for (const Event& e : events) tally.take(e);
      events.clear();
      if (tally.done() || loop.stopped()) break;
      if (first) shed_startup_pages();  // set-up is over: pwait goes to sleep
      waiter->wait(events);
    }
  }
  if (tally.done()) return tally.exit_code();
  if (loop.stop_signal()) return exit_code::signal_base + loop.stop_signal();
  tally.report_timeout();
  return exit_code::timeout;
}

void list_backends() {
  for (const Backend& b : backends()) {
    auto why = b.probe({});
    fmt::print("{:<8} {:<11} {}\n", b.name, why ? "unavailable" : "usable", why ? *why : std::string(b.summary));
  }
}

}  // namespace pwait
