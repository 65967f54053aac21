// The policy above the backends (all / any / count, -x, the exit-code
// precedence, the timeout report, what is said) against a fake backend that
// reports scripted events: no process, no timing.

#include "pwait/policy.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <deque>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/run.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using Step = std::vector<Event>;

int exited_with(int code) { return code << 8; }

// Reports one scripted step at watch() and one more each time the loop
// turns; a step may also raise a signal at pwait. After the script, nothing.
class FakeWaiter final : public Waiter {
 public:
  FakeWaiter(EventLoop& loop, Events& out) : loop_(loop), out_(out) {}
  void watch(std::span<PidRef> targets) override {
    watched = targets.size();
    next();
  }
  void expired() override { next(); }

  static inline std::deque<Step> script;
  static inline int raise_after = -1;  // raise SIGTERM after this many steps
  static inline std::size_t watched = 0;

 private:
  void next() {
    if (script.empty()) return;
    for (const Event& e : script.front()) out_.push_back(e);
    script.pop_front();
    if (--raise_after == 0) raise(SIGTERM);
    if (!script.empty()) loop_.set_timer(*this, Clock::now());
  }
  EventLoop& loop_;
  Events& out_;
};

std::optional<std::string> fake_probe(std::span<const PidRef>, const Request&) { return std::nullopt; }
std::unique_ptr<Waiter> fake_create(EventLoop& loop, const Request&, Events& out) {
  return std::make_unique<FakeWaiter>(loop, out);
}
const Backend kFake[] = {{.name = "fake", .summary = "scripted", .probe = fake_probe, .create = fake_create}};

struct Lines final : Output {
  std::string stdout_text, stderr_text;
  void out(std::string_view line) override { (stdout_text += line) += '\n'; }
  void err(std::string_view line) override { (stderr_text += line) += '\n'; }
};

struct PolicyRun {
  int code;
  std::string out, err;
};

// Runs the policy on targets with PIDs 101, 102, ... (and `missing`) over
// the fake backend's `script`.
PolicyRun run_policy(Options o, std::size_t targets, std::vector<Step> script, std::vector<pid_t> missing = {},
               int raise_after = -1) {
  FakeWaiter::script.assign(script.begin(), script.end());
  FakeWaiter::raise_after = raise_after;
  Targets t;
  for (std::size_t i = 0; i < targets; ++i) t.pinned.push_back(PidRef::unpinned(static_cast<pid_t>(101 + i)));
  t.missing = std::move(missing);
  EventLoop loop(Clock::now(), o.timeout);
  Lines lines;
  Reporter reporter(lines, o.verbose, o.json, loop);
  int code = wait_for(o, t, kFake, loop, reporter);
  return {code, lines.stdout_text, lines.stderr_text};
}

Event exited(std::size_t i, std::optional<int> status, bool zombie = false, pid_t parent = 0) {
  return {EventKind::exited, i, status, zombie, parent};
}
Event reaped(std::size_t i, std::optional<int> status) { return {EventKind::reaped, i, status}; }

TEST(Policy, AllWaitsForEveryTarget) {
  PolicyRun r = run_policy({}, 3, {{}, {exited(0, 0)}, {exited(2, 0)}, {exited(1, 0)}, {exited(1, 0)}});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(FakeWaiter::script.size() == 1) << "returned before the last target or read past it";
}

TEST(Policy, FailFastTakesAKnownFailureOnlyAndItsOwnCode) {
  Options o;
  o.fail_fast = o.exit_status = true;
  // An unknown status (125 for -x) is no failure; the first known one ends
  // the wait with its own code, and the rest is not waited for.
  PolicyRun r = run_policy(o, 4, {{exited(0, std::nullopt)}, {exited(1, 0)}, {exited(2, SIGKILL)}, {exited(3, 0)}});
  EXPECT_EQ(r.code, 128 + SIGKILL);
  EXPECT_EQ(FakeWaiter::script.size(), 1u) << "waited past the failure";
  // Without a failure it is an ordinary wait: -x's code at the end.
  r = run_policy(o, 2, {{exited(0, std::nullopt)}, {exited(1, 0)}});
  EXPECT_EQ(r.code, exit_code::status_unknown);
  // With -r the failure counts at the reap.
  o.reaped = true;
  r = run_policy(o, 2, {{exited(0, exited_with(3))}, {reaped(0, exited_with(3))}, {exited(1, 0)}, {reaped(1, 0)}});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(FakeWaiter::script.size(), 2u) << "ended at the exit, not the reap";
}

TEST(Policy, AnyReturnsOnTheFirst) {
  Options o;
  o.count = 1;
  PolicyRun r = run_policy(o, 3, {{}, {exited(1, exited_with(4))}, {exited(0, 0)}});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(FakeWaiter::script.size(), 1u);
}

TEST(Policy, CountWaitsForN) {
  Options o;
  o.count = 2;
  PolicyRun r = run_policy(o, 3, {{exited(1, 0)}, {exited(1, 0)}, {exited(2, 0)}, {exited(0, 0)}});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(FakeWaiter::script.size(), 1u) << "a repeated event counted twice, or it waited for a third";
}

TEST(Policy, ExitStatusTakesTheFirstFailure) {
  Options o;
  o.exit_status = true;
  EXPECT_EQ(run_policy(o, 3, {{exited(0, 0)}, {exited(1, exited_with(3))}, {exited(2, exited_with(5))}}).code, 3);
  EXPECT_EQ(run_policy(o, 1, {{exited(0, SIGKILL)}}).code, 128 + SIGKILL);
  EXPECT_EQ(run_policy(o, 1, {{exited(0, std::nullopt)}}).code, exit_code::status_unknown);
  EXPECT_EQ(run_policy(o, 2, {{exited(0, 0)}, {exited(1, 0)}}).code, 0);
  Options plain;
  EXPECT_EQ(run_policy(plain, 1, {{exited(0, exited_with(9))}}).code, 0) << "without -x a failure is not pwait's";
}

TEST(Policy, MissingIsAnErrorAfterTheOthersUnlessExitedOk) {
  PolicyRun r = run_policy({}, 1, {{}, {exited(0, 0)}}, {999});
  EXPECT_EQ(r.code, exit_code::missing);
  EXPECT_EQ(r.err, "pwait: 999: no such process\n");
  EXPECT_TRUE(FakeWaiter::script.empty()) << "did not wait for the target that exists";
  Options e;
  e.exited_ok = true;
  r = run_policy(e, 1, {{}, {exited(0, 0)}}, {999});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err, "");
  Options x;
  x.exit_status = true;
  EXPECT_EQ(run_policy(x, 1, {{exited(0, exited_with(6))}}, {999}).code, 6) << "a failure outranks a missing PID";
  EXPECT_EQ(run_policy({}, 0, {}, {998, 999}).code, exit_code::missing) << "nothing there: done at once";
}

TEST(Policy, ReapedEndsAtTheReapOnly) {
  Options o;
  o.reaped = true;
  o.exit_status = true;
  // A reap before its exit is out of order and ignored; the status at the reap counts.
  PolicyRun r = run_policy(o, 1, {{reaped(0, 0)}, {exited(0, exited_with(2), true, 50)}, {reaped(0, exited_with(2))}, {}});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(FakeWaiter::script.size(), 1u);
}

TEST(Policy, TimeoutReportsWhatIsStillPending) {
  Options o;
  o.timeout = 50ms;
  o.verbose = true;
  PolicyRun r = run_policy(o, 3, {{exited(1, 0)}});
  EXPECT_EQ(r.code, exit_code::timeout);
  EXPECT_EQ(r.out, "102: exited with status 0\n");
  EXPECT_EQ(r.err, "pwait: timed out after 0.05s; still running: 101 103\n");

  Options j;
  j.timeout = 50ms;
  j.json = true;
  j.reaped = true;
  r = run_policy(j, 2, {{exited(0, 0, true, 77)}});
  EXPECT_EQ(r.code, exit_code::timeout);
  EXPECT_NE(r.out.find(R"({"event":"timeout","pid":101,"name":null,"inode":null,"status":null,"zombie":true,"parent":77,"backend":"fake")"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(R"({"event":"timeout","pid":102,"name":null,"inode":null,"status":null,"zombie":false,"parent":null,"backend":"fake")"),
            std::string::npos)
      << r.out;
}

TEST(Policy, AStopSignalOutranksEverything) {
  Options o;
  o.exit_status = true;
  o.timeout = 5s;
  PolicyRun r = run_policy(o, 2, {{exited(0, exited_with(3))}, {}, {}}, {999}, 1);
  EXPECT_EQ(r.code, 128 + SIGTERM);
}

TEST(Policy, VerboseAndJsonSayEachEventOnce) {
  Options o;
  o.verbose = true;
  PolicyRun r = run_policy(o, 2, {{exited(0, exited_with(1)), exited(0, 0)}, {exited(1, SIGTERM)}});
  EXPECT_EQ(r.out, "101: exited with status 1\n102: killed by signal 15 (SIGTERM)\n");
  Options j;
  j.json = true;
  r = run_policy(j, 1, {{exited(0, exited_with(1))}}, {999});
  EXPECT_NE(r.out.find(R"({"event":"missing","pid":999,"name":null,"inode":null,"status":null,"zombie":false,"parent":null,"backend":"fake")"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(R"({"event":"exited","pid":101,"name":null,"inode":null,"status":{"code":1},"zombie":false,"parent":null,"backend":"fake")"),
            std::string::npos)
      << r.out;
}

// Issue 11, defect 8: a backend that changes what a target sees is taken by
// auto only where nothing else can promise a status -x asks for, and with a
// note; never for a plain wait.
TEST(Policy, AutoTakesAnIntrusiveBackendOnlyForExitStatusAndSaysSo) {
  const Backend intrusive_only[] = {
      {.name = "meddler", .summary = "scripted", .probe = fake_probe, .create = fake_create, .intrusive = true}};
  auto run_with = [&](Options o) {
    FakeWaiter::script.assign({Step{exited(0, 0)}});
    Targets t;
    t.pinned.push_back(PidRef::unpinned(101));
    EventLoop loop(Clock::now(), 5s);
    Lines lines;
    Reporter reporter(lines, false, false, loop);
    int code = wait_for(o, t, intrusive_only, loop, reporter);
    return std::make_pair(code, lines.stderr_text);
  };
  Options x;
  x.exit_status = true;
  auto [code, err] = run_with(x);
  EXPECT_EQ(code, 0);
  EXPECT_NE(err.find("note: using the meddler backend"), std::string::npos) << err;
  EXPECT_NE(err.find("EINTR"), std::string::npos) << err;
  EXPECT_THROW(run_with(Options{}), WatchError) << "a plain wait took the intrusive backend";
  Options forced;
  forced.backend = "meddler";
  FakeWaiter::script.assign({Step{exited(0, 0)}});
  Targets t;
  t.pinned.push_back(PidRef::unpinned(101));
  EventLoop loop(Clock::now(), 5s);
  Lines lines;
  Reporter reporter(lines, false, false, loop);
  EXPECT_EQ(wait_for(forced, t, intrusive_only, loop, reporter), 0) << "named, it serves";
  EXPECT_EQ(lines.stderr_text, "") << "named, no note";
}

TEST(ExitCodeFor, Precedence) {
  Condition x{.exit_status = true};
  Tally failed(1, 1, x);
  failed.take({EventKind::exited, 0, exited_with(4)});
  EXPECT_EQ(exit_code_for({.stop_signal = SIGINT, .timed_out = true}, failed, x), 130);
  EXPECT_EQ(exit_code_for({.timed_out = true}, failed, x), exit_code::timeout);
  EXPECT_EQ(exit_code_for({}, failed, x), 4);
  Tally fine(1, 1, x);
  fine.take({EventKind::exited, 0, 0});
  EXPECT_EQ(exit_code_for({}, fine, x), exit_code::missing);
  EXPECT_EQ(exit_code_for({}, fine, {.exited_ok = true}), exit_code::ok);
}

}  // namespace
}  // namespace pwait
