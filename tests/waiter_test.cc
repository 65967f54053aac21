// The backend suite: the same behaviour asked of every row of the backend
// table, through the Waiter interface, on real targets that are not this
// process's children. A backend that cannot run here skips with its reason.

#include "pwait/waiter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <functional>
#include <map>

#include "pwait/backend.h"
#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Reap;
using testing::Target;
using testing::TargetGroup;

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const Backend& b : backends()) names.emplace_back(b.name);
  return names;
}

using Events = std::vector<Event>;

Request following() { return {.follow_reap = true}; }

class WaiterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = find_backend(GetParam());
    ASSERT_NE(backend_, nullptr);
    if (auto why = backend_->probe({}, {})) GTEST_SKIP() << GetParam() << " is unavailable: " << *why;
  }

  /// Starts watching `pids` with a loop whose deadline bounds every later
  /// wait; returns what watch() reported at once.
  Events start(std::vector<pid_t> pids, Request request = {},
               std::chrono::milliseconds deadline = testing::kDeadline) {
    waiter_.reset();
    Targets pinned = pin_all(pids);
    if (auto why = backend_->probe(pinned.pinned, request))
      throw std::runtime_error("probe declined the request: " + *why);
    release_backends(backends());
    waiter_ = std::make_unique<testing::WaiterThread>(*backend_, std::move(pids), request, deadline);
    return waiter_->watched();
  }

  /// The events until `done(events)` or the deadline.
  Events collect(const std::function<bool(const Events&)>& done) { return waiter_->collect(done); }

  static std::function<bool(const Events&)> has(EventKind kind, std::size_t n = 1) {
    return [=](const Events& ev) {
      return static_cast<std::size_t>(std::count_if(ev.begin(), ev.end(), [&](const Event& e) {
               return e.kind == kind;
             })) >= n;
    };
  }

  static const Event* find(const Events& ev, EventKind kind, std::size_t target = 0) {
    for (const Event& e : ev)
      if (e.kind == kind && e.target == target) return &e;
    return nullptr;
  }

  const Backend* backend_ = nullptr;
  std::unique_ptr<testing::WaiterThread> waiter_;
};

TEST_P(WaiterTest, ReportsExitStatusOfZombieNonChild) {
  Target t(testing::exit_on_command, Reap::on_request);
  Events ev = start({t.pid()});
  EXPECT_TRUE(ev.empty());
  t.exit(7);
  ev = collect(has(EventKind::exited));
  const Event* e = find(ev, EventKind::exited);
  ASSERT_NE(e, nullptr) << "no exit reported before the deadline";
  ASSERT_TRUE(e->status);
  EXPECT_TRUE(WIFEXITED(*e->status));
  EXPECT_EQ(WEXITSTATUS(*e->status), 7);
  EXPECT_TRUE(e->zombie);
  EXPECT_EQ(e->parent, t.parent());
  EXPECT_EQ(ev.size(), 1u);
}

TEST_P(WaiterTest, ReportsKillingSignal) {
  Target t(testing::exit_on_command, Reap::on_request);
  Events ev = start({t.pid()});
  t.kill(SIGKILL);
  ev = collect(has(EventKind::exited));
  const Event* e = find(ev, EventKind::exited);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->status);
  EXPECT_TRUE(WIFSIGNALED(*e->status));
  EXPECT_EQ(WTERMSIG(*e->status), SIGKILL);
}

TEST_P(WaiterTest, ZombieAtStartHasAlreadyEnded) {
  Target t(testing::exit_on_command, Reap::on_request);
  t.exit(3);
  t.wait_exited();  // the nursery has seen it exit and has not reaped it
  Events ev = start({t.pid()});
  ev = collect(has(EventKind::exited));
  const Event* e = find(ev, EventKind::exited);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->zombie);
  ASSERT_TRUE(e->status);
  EXPECT_EQ(WEXITSTATUS(*e->status), 3);
}

// A zombie at start is reported when watched; its reap, before the loop
// first runs, must add nothing more (a reaped report once with --reaped,
// none without). The pidfd armed before the exit used to wake once more
// and report a reap without --reaped, out of bounds.
TEST_P(WaiterTest, ReapRightAfterWatchIsReportedOnceOrNotAtAll) {
  for (bool follow : {false, true}) {
    SCOPED_TRACE(follow ? "--reaped" : "without --reaped");
    Target t(testing::exit_on_command, Reap::on_request);
    t.exit(5);
    t.wait_exited();
    {
      EventLoop loop(Clock::now(), 300ms);  // runs until it times out
      std::vector<pid_t> pids{t.pid()};
      Targets pinned = pin_all(pids);
      ASSERT_EQ(pinned.pinned.size(), 1u);
      Events out;
      auto waiter = backend_->create(loop, {.follow_reap = follow}, out);
      waiter->watch(pinned.pinned);
      ASSERT_NE(find(out, EventKind::exited), nullptr) << "a zombie at start is reported at once";
      t.reap();
      while (!loop.stopped()) loop.run_once();
      auto reaps = std::count_if(out.begin(), out.end(), [](const Event& e) { return e.kind == EventKind::reaped; });
      auto exits = std::count_if(out.begin(), out.end(), [](const Event& e) { return e.kind == EventKind::exited; });
      EXPECT_EQ(exits, 1);
      EXPECT_EQ(reaps, follow ? 1 : 0);
    }
    release_backends(backends());
  }
}

TEST_P(WaiterTest, FollowsZombieUntilReaped) {
  Target t(testing::exit_on_command, Reap::on_request);
  Events ev = start({t.pid()}, following());
  t.exit(4);
  ev = collect(has(EventKind::exited));
  ASSERT_NE(find(ev, EventKind::exited), nullptr);
  EXPECT_TRUE(find(ev, EventKind::exited)->zombie);
  EXPECT_EQ(find(ev, EventKind::reaped), nullptr) << "reported a reap before the parent reaped";
  t.reap();
  ev = collect(has(EventKind::reaped));
  const Event* r = find(ev, EventKind::reaped);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->status);
  EXPECT_EQ(WEXITSTATUS(*r->status), 4);
  EXPECT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::exited);
}

TEST_P(WaiterTest, ReapedAtOnceReportsExitThenReap) {
  Target t;  // the nursery reaps at once
  Events ev = start({t.pid()}, following());
  t.exit(0);
  t.wait_reaped();
  ev = collect(has(EventKind::reaped));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::exited);
  EXPECT_EQ(ev[1].kind, EventKind::reaped);
}

TEST(PinAll, AMissingPidIsMissingAndTheOthersArePinned) {
  Target t;
  pid_t gone = testing::unused_pid();
  Targets targets = pin_all(std::vector<pid_t>{t.pid(), gone});
  ASSERT_EQ(targets.pinned.size(), 1u);
  EXPECT_EQ(targets.pinned[0].pid(), t.pid());
  EXPECT_TRUE(targets.pinned[0].alive());
  EXPECT_EQ(targets.missing, std::vector<pid_t>{gone});
}

TEST_P(WaiterTest, LeaderThreadExitingEarlyIsNotTheEnd) {
  Target t(testing::leader_exits_first, Reap::on_request);
  ASSERT_EQ(t.read_line(), "ready");  // the leader thread is gone, the process lives
  Events ev = start({t.pid()}, {}, 500ms);
  ev = collect(has(EventKind::exited));
  EXPECT_TRUE(waiter_->timed_out());
  EXPECT_TRUE(ev.empty()) << "reported the process ended while a thread still runs";

  ev = start({t.pid()});
  t.exit(5);
  ev = collect(has(EventKind::exited));
  const Event* e = find(ev, EventKind::exited);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->status);
  EXPECT_EQ(WEXITSTATUS(*e->status), 5);
}

TEST_P(WaiterTest, RunningTargetTimesOut) {
  Target t;
  Events ev = start({t.pid()}, {}, 200ms);
  ev = collect(has(EventKind::exited));
  EXPECT_TRUE(waiter_->timed_out());
  EXPECT_TRUE(ev.empty());
}

TEST_P(WaiterTest, EveryTargetOfAGroupExactlyOnce) {
  TargetGroup group(200);
  Events ev = start(group.pids(), following(), 30s);
  group.finish();
  ev = collect(has(EventKind::reaped, group.pids().size()));
  std::map<std::size_t, int> exited, reaped;
  for (const Event& e : ev) {
    if (e.kind == EventKind::exited) ++exited[e.target];
    if (e.kind == EventKind::reaped) ++reaped[e.target];
  }
  EXPECT_EQ(exited.size(), group.pids().size());
  EXPECT_EQ(reaped.size(), group.pids().size());
  for (auto& [i, n] : exited) EXPECT_EQ(n, 1) << "target " << i << " exited twice";
  for (auto& [i, n] : reaped) EXPECT_EQ(n, 1) << "target " << i << " reaped twice";
}

TEST_P(WaiterTest, StopsOnTimeoutWithOthersRunning) {
  Target a, b;
  Events ev = start({a.pid(), b.pid()}, {}, 2s);
  a.exit(0);
  ev = collect(has(EventKind::exited, 2));
  EXPECT_TRUE(waiter_->timed_out());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].target, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WaiterTest, ::testing::ValuesIn(backend_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace pwait
