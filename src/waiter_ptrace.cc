// The ptrace backend: PTRACE_SEIZE on each target's leader thread
// (tracer.h), in the one loop: the tracees' stops arrive as
// SIGCHLD, each drained with waitpid(tid, __WALL) for the traced leaders
// only (pwait may have children of its own).
//
// Only the leader is traced. Signals that land in other threads never stop
// anything, so they cannot be lost; group-stops still complete, because the
// kernel counts the traced leader's trap like any thread's stop; and our
// wait reports a leader's exit only once the whole thread group is gone.
// Tracing every thread would add a stop for every thread-directed signal
// and a race with every clone, and buy nothing the leader does not give. A
// leader that leaves alone (pthread_exit) stays a traced zombie until its
// group is gone; it cannot be detached before that, and the kernel lets go
// of it if pwait ends first.
//
// The status is our wait's on the leader, which the kernel answers once the
// whole group is gone, before the real parent can: a traced non-child's
// zombie is seen by its tracer only, and our wait hands it to its real
// parent. The target's pidfd then tells zombie from reaped. There is no exit
// stop: it would hold every exiting target until pwait had run, a round
// trip per exit that in an exit storm slows the targets' own ends.
//
// Every stop is resumed at once. When pwait itself is stopped (SIGTSTP,
// SIGTTIN, SIGTTOU) it first lets every target go (but a zombie leader),
// and seizes them again once continued, so a target is never frozen by
// pwait's own stop.
// Destroying the Waiter detaches every target still traced.

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"
#include "pwait/reap_watch.h"
#include "pwait/tracer.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// How long letting go waits for interrupted targets to stop so it can detach
// them. One that does not stop in time (uninterruptible sleep) is detached
// by the kernel when pwait exits.
constexpr Duration kDetachGrace = milliseconds(2000);
// While seizing thousands of targets, serve the stops of those seized
// already this often: a signal to one must not wait for the rest.
constexpr std::size_t kServeEvery = 256;
// Finding which tracees are stopped costs a wait that walks the kernel's
// list of every tracee: about 1 ms at 10,000, each a cache miss. So a sweep
// comes at most once per kSweepRatio times the last one's cost (at most 2%
// of a core, whatever the rate of SIGCHLDs), and the gap never exceeds
// kMaxSweepGap. Only a stop whose SIGCHLD merged with another's waits for a
// sweep; the rest are named by their signal and served at once.
constexpr int kSweepRatio = 50;
constexpr Duration kMaxSweepGap = milliseconds(100);
constexpr int kJobControlStops[] = {SIGTSTP, SIGTTIN, SIGTTOU};

class PtraceWaiter final : public Waiter {
 public:
  PtraceWaiter(EventLoop& loop, const Request& request, Events& out)
      : loop_(loop), request_(request), ends_(out, request.follow_reap), sweeper_(*this), reaps_(loop, *this) {
    loop_.watch_signal(SIGCHLD, *this);
    for (int sig : kJobControlStops)
      if (!signal_ignored(sig)) loop_.watch_signal(sig, *this);
  }

  ~PtraceWaiter() override {
    let_go();
    loop_.forget(sweeper_);
    loop_.forget(*this);
  }

  void watch(std::span<PidRef> targets) override {
    targets_ = targets;
    ends_.watch(targets);
    state_.resize(targets.size());
    by_pid_.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) by_pid_.push_back({targets[i].pid(), i});
    std::sort(by_pid_.begin(), by_pid_.end());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      start(i);
      if (i % kServeEvery == kServeEvery - 1) drain_children(false);
    }
    // Stops that came while seizing. The peek names them; it falls back to
    // looking at every target only if pwait has a waitable child of its own.
    drain_children(false);
  }

  void ready(std::uint32_t i, std::uint32_t events) override {
    State& s = state_[i];
    if (s.mode == Mode::traced) {
      // Its group has gone: our wait has its status, or it is no longer ours.
      serve(i);
      if (s.mode == Mode::traced) report_exited(i, std::nullopt);  // the pidfd has the last word
    } else if (s.mode == Mode::untraced) {
      report_exited(i, std::nullopt);
    } else if (s.mode == Mode::exited && (events & EPOLLHUP)) {
      report_reaped(i);
    }
  }

  void signalled(const signalfd_siginfo& info) override {
    if (info.ssi_signo == SIGCHLD) return child_changed(static_cast<pid_t>(info.ssi_pid));
    suspend(static_cast<int>(info.ssi_signo));
  }

  void expired() override {
    reaps_.poll([&](std::size_t i) { return targets_[i].alive(); }, [&](std::size_t i) { report_reaped(i); });
  }

 private:
  enum class Mode : std::uint8_t {
    idle,      // nothing more to report
    traced,    // seized; its stops and exit come through waitpid
    untraced,  // a zombie leader, not seizable or let go: its pidfd says when the group ends
    exited,    // reported exited; its pidfd says when it is reaped
  };
  struct State {
    Mode mode = Mode::idle;
    bool in_epoll = false;  // its pidfd is in the loop
  };

  // Puts target i's pidfd in the loop with `events`, or changes them.
  void poll_pidfd(std::size_t i, std::uint32_t events) {
    auto index = static_cast<std::uint32_t>(i);
    if (state_[i].in_epoll) loop_.modify(targets_[i].fd(), events, *this, index);
    else loop_.add(targets_[i].fd(), events, *this, index);
    state_[i].in_epoll = true;
  }

  // Seizes target i, or reports it if it has already ended.
  void start(std::size_t i) {
    State& s = state_[i];
    PidRef& t = targets_[i];
    if (pidfd_exited(t.fd())) return report_exited(i, std::nullopt);
    int err = tracer::seize(t.pid());
    if (err == 0) {
      s.mode = Mode::traced;
      // The seize went by number: if the pinned process was reaped before
      // it, the number may be another process's. Let that one go.
      if (!t.alive()) {
        pid_t pid = t.pid();
        tracer::release({&pid, 1}, kDetachGrace);
        s.mode = Mode::idle;
        return report_exited(i, std::nullopt);
      }
      // A backstop for what no SIGCHLD announces: when a non-leader thread
      // execs, the kernel drops the leader we traced without a word, and the
      // process goes on untraced under the same PID until it ends.
      return poll_pidfd(i, EPOLLIN);
    }
    if (err == ESRCH) return report_exited(i, std::nullopt);  // gone since it was pinned
    if (err == EPERM) {
      // The kernel refuses zombies too: a leader that called pthread_exit
      // while its threads run. Its pidfd wakes us when the group is gone.
      auto st = t.stat();
      if (!st || pidfd_exited(t.fd())) return report_exited(i, std::nullopt);
      if (st->state == 'Z' || st->state == 'X') {
        s.mode = Mode::untraced;
        return poll_pidfd(i, EPOLLIN);
      }
    }
    tracer::refuse(t.pid(), err);
  }

  // The target whose PID is `pid`, if any.
  std::optional<std::size_t> index_of(pid_t pid) const {
    auto it = std::lower_bound(by_pid_.begin(), by_pid_.end(), std::pair<pid_t, std::size_t>{pid, 0});
    if (it == by_pid_.end() || it->first != pid) return std::nullopt;
    return it->second;
  }

  // A SIGCHLD came from `pid`: serve it at once if it is a target. SIGCHLDs
  // merge while one is pending, so others may have stopped unnamed: a sweep
  // finds them, now if the last one was more than a gap ago, else once the
  // gap has passed. Every stop is thus served within a gap of its SIGCHLD
  // being read, and an exit storm costs one sweep per gap, not per exit.
  void child_changed(pid_t pid) {
    if (auto i = index_of(pid)) serve(*i);
    if (sweep_due_) return;  // one is coming
    auto now = Clock::now();
    if (now >= last_sweep_ + sweep_gap_) return sweep();
    sweep_due_ = true;
    loop_.set_timer(sweeper_, last_sweep_ + sweep_gap_);
  }

  void sweep() {
    sweep_due_ = false;
    last_sweep_ = Clock::now();
    drain_children(false);
    sweep_gap_ = std::min(kMaxSweepGap, (Clock::now() - last_sweep_) * kSweepRatio);
  }

  // The sweep's timer: a Source of its own, as the ReapWatch has the waiter's.
  struct Sweeper final : EventLoop::Source {
    explicit Sweeper(PtraceWaiter& w) : waiter(w) {}
    void expired() override { waiter.sweep(); }
    PtraceWaiter& waiter;
  };

  // Handles the stops waiting for the traced targets. A peek at whichever
  // child or tracee is stopped names the target at once, so one stop among
  // thousands of targets costs a few waits, not one per target. Exits are
  // not peeked at: each wakes its target's pidfd, and a peek past every
  // tracee still running to each zombie in an exit storm would cost a walk
  // per exit. pwait's own stopped children stop the peek: then, or when
  // asked to, look at every target.
  void drain_children(bool scan_all) {
    while (!scan_all) {
      pid_t pid = tracer::waitable(false);
      if (pid == 0) return;  // nothing waitable
      auto i = index_of(pid);
      if (!i || !serve(*i)) scan_all = true;
    }
    for (std::size_t i = 0; i < targets_.size(); ++i) serve(i);
  }

  // Handles what waits for target i; false if nothing did.
  bool serve(std::size_t i) {
    State& s = state_[i];
    pid_t pid = targets_[i].pid();
    bool served = false;
    while (s.mode == Mode::traced) {
      int st = 0;
      pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
      if (r == 0) break;
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != ECHILD) throw_errno("waitpid", std::to_string(pid));
        // No longer our tracee: a non-leader thread's execve replaced the
        // leader we traced. The process lives on under the same PID.
        s.mode = Mode::idle;
        start(i);
        return true;
      }
      served = true;
      tracer::Step step = tracer::handle(pid, st);
      if (step.kind == tracer::Step::ended) {
        // The whole group is gone; this wait handed the zombie to its parent.
        s.mode = Mode::idle;
        report_exited(i, step.status);
      }
    }
    return served;
  }

  // Reports target i exited. `seen` is the status from our wait, when we had one.
  void report_exited(std::size_t i, std::optional<int> seen) {
    State& s = state_[i];
    PidRef& t = targets_[i];
    s.mode = Mode::idle;
    // Plain `pwait PID...` looks at nothing but the exit itself: no /proc
    // read, no pidfd query per exit, which in an exit storm is most of the
    // work left once our wait has handed the zombie to its parent.
    ExitInfo e = request_.want_details ? t.exit_info(seen) : ExitInfo{seen};
    if (!ends_.exited(i, e)) {
      if (s.in_epoll) loop_.remove(t.fd());
      s.in_epoll = false;
      return;
    }
    s.mode = Mode::exited;
    // No more EPOLLIN, which stays set: only EPOLLHUP, the reap, wakes us,
    // once; or the ReapWatch looks.
    if (reaps_.follow(i)) poll_pidfd(i, EPOLLONESHOT);
    else if (s.in_epoll) loop_.remove(t.fd()), s.in_epoll = false;
  }

  void report_reaped(std::size_t i) {
    ends_.reaped(i);
    state_[i].mode = Mode::idle;
  }

  // Lets go of every target still traced; those that cannot be (a zombie
  // leader whose threads run on) stay traced.
  void let_go() noexcept {
    std::vector<pid_t> which;
    for (std::size_t i = 0; i < state_.size(); ++i)
      if (state_[i].mode == Mode::traced) which.push_back(targets_[i].pid());
    auto kept = tracer::release(which, kDetachGrace);
    std::sort(kept.begin(), kept.end());
    for (std::size_t i = 0; i < state_.size(); ++i)
      if (state_[i].mode == Mode::traced && !std::binary_search(kept.begin(), kept.end(), targets_[i].pid()))
        state_[i].mode = Mode::idle;
  }

  // pwait is being stopped: let every target go (a tracer's stop would
  // freeze them), stop, and once continued seize again those still running.
  // A zombie leader stays traced: dead, it cannot be frozen, and its end
  // comes through our wait as before.
  void suspend(int sig) {
    std::vector<std::size_t> held;
    for (std::size_t i = 0; i < state_.size(); ++i)
      if (state_[i].mode == Mode::traced) held.push_back(i);
    let_go();
    std::erase_if(held, [&](std::size_t i) { return state_[i].mode == Mode::traced; });
    for (std::size_t i : held) state_[i].mode = Mode::untraced;  // meanwhile, its pidfd tells
    tracer::stop_self(sig);
    for (std::size_t i : held)
      if (state_[i].mode == Mode::untraced && !pidfd_exited(targets_[i].fd())) {
        state_[i].mode = Mode::idle;
        start(i);
      }
    drain_children(true);
  }

  EventLoop& loop_;
  Request request_;
  Endings ends_;
  tracer::ChildSignal child_signal_;
  std::span<PidRef> targets_;
  std::vector<State> state_;
  std::vector<std::pair<pid_t, std::size_t>> by_pid_;  // every target, sorted by PID
  Sweeper sweeper_;
  Duration sweep_gap_{};
  Clock::time_point last_sweep_{};
  bool sweep_due_ = false;  // the sweeper's timer is set
  ReapWatch reaps_;
};

}  // namespace

std::optional<std::string> ptrace_probe(std::span<const PidRef> targets, const Request& request) {
  // A pidfd per target guards the seize against PID reuse and tells zombie
  // from reaped.
  if (auto why = pidfd_availability()) return fmt::format("needs pidfds: {}", *why);
  for (const PidRef& t : targets)
    if (!t.has_fd()) return "needs a pidfd per target, and the file-descriptor limit is too low for that";
  // Under a tracer without CAP_SYS_PTRACE the kernel runs a set-user-ID
  // program the target execs without its privileges (sudo, su, ping fail):
  // that would change what the target does, so never without it.
  bool privileged = may_trace_anything();
  if (!privileged)
    return "needs CAP_SYS_PTRACE in the initial user namespace: under a tracer without it, a set-user-ID "
           "program a target runs would lose its privileges";
  // A target met as a zombie leader (its pthread_exit came before pwait), or
  // one that ended while a stopped pwait had let it go, is followed by its
  // pidfd alone: its status then comes from the pidfd, which keeps it after
  // a fast reap only where the kernel keeps exit statuses.
  if (request.must_know_status && !pidfd_keeps_exit_status())
    return "cannot promise every exit status: this kernel does not keep it for a reaped process "
           "(PIDFD_INFO_EXIT, Linux 6.15)";
  if (auto why = yama_refusal(privileged)) return why;
  // A target already traced (strace, gdb): `auto` moves on to the next
  // backend. Named, the seize meets the refusal and says the same, without
  // a /proc read per target here.
  if (!request.backend_named)
    for (const PidRef& t : targets)
      if (auto why = ptrace_refusal(t.pid(), privileged)) return why;
  return std::nullopt;
}

std::unique_ptr<Waiter> ptrace_create(EventLoop& loop, const Request& request, Events& out) {
  return std::make_unique<PtraceWaiter>(loop, request, out);
}

}  // namespace pwait
