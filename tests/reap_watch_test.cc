// ReapWatch: which zombies are polled for their reap, and how often.

#include "pwait/reap_watch.h"

#include <gtest/gtest.h>

#include <set>

namespace pwait {
namespace {

using namespace std::chrono_literals;

// A Source whose timer the ReapWatch sets; counts the expiries.
struct Owner : EventLoop::Source {
  int expired_count = 0;
  void expired() override { ++expired_count; }
};

TEST(ReapWatch, KernelThatReportsReapsLeavesThemToEpoll) {
  EventLoop loop(Clock::now(), 300ms);
  Owner owner;
  ReapWatch w(loop, owner, true);
  EXPECT_TRUE(w.follow(3));
  EXPECT_FALSE(w.polling()) << "nothing to poll: sleep until an event";
  while (!loop.stopped()) loop.run_once();
  EXPECT_EQ(owner.expired_count, 0) << "no timer for a kernel that reports the reap";
}

TEST(ReapWatch, OlderKernelPollsEveryHundredMillisecondsUntilReaped) {
  EventLoop loop(Clock::now(), 5s);
  Owner owner;
  ReapWatch w(loop, owner, false);
  EXPECT_FALSE(w.follow(1));
  EXPECT_FALSE(w.follow(2));
  w.poll_instead(5);
  auto armed = Clock::now();
  while (owner.expired_count == 0 && !loop.stopped()) loop.run_once();
  EXPECT_GE(Clock::now() - armed, ReapWatch::kInterval - 1ms) << "looked before the interval";

  std::set<std::size_t> gone{2, 5}, reported;
  w.poll([&](std::size_t i) { return !gone.count(i); }, [&](std::size_t i) { reported.insert(i); });
  EXPECT_EQ(reported, (std::set<std::size_t>{2, 5}));
  EXPECT_TRUE(w.polling()) << "1 is still a zombie";
  while (owner.expired_count == 1 && !loop.stopped()) loop.run_once();
  EXPECT_EQ(owner.expired_count, 2) << "the timer was set again for the zombie left";

  gone.insert(1);
  reported.clear();
  w.poll([&](std::size_t i) { return !gone.count(i); }, [&](std::size_t i) { reported.insert(i); });
  EXPECT_EQ(reported, (std::set<std::size_t>{1})) << "each reap is reported once";
  EXPECT_FALSE(w.polling());
}

}  // namespace
}  // namespace pwait
