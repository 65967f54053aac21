// ReapWatch: which zombies are polled for their reap, and how often.

#include "pwait/reap_watch.h"

#include <gtest/gtest.h>

#include <set>

namespace pwait {
namespace {

TEST(ReapWatch, KernelThatReportsReapsLeavesThemToEpoll) {
  ReapWatch w(true);
  EXPECT_TRUE(w.follow(3));
  EXPECT_FALSE(w.max_wait()) << "nothing to poll: sleep until an event";
  int asked = 0;
  w.poll([&](std::size_t) { return ++asked, false; }, [](std::size_t) { FAIL() << "nothing is polled"; });
  EXPECT_EQ(asked, 0);
}

TEST(ReapWatch, OlderKernelPollsEveryHundredMillisecondsUntilReaped) {
  ReapWatch w(false);
  EXPECT_FALSE(w.follow(1));
  EXPECT_FALSE(w.follow(2));
  w.poll_instead(5);
  EXPECT_EQ(w.max_wait(), Duration(std::chrono::milliseconds(100)));

  std::set<std::size_t> gone{2, 5}, reported;
  w.poll([&](std::size_t i) { return !gone.count(i); }, [&](std::size_t i) { reported.insert(i); });
  EXPECT_EQ(reported, (std::set<std::size_t>{2, 5}));
  EXPECT_TRUE(w.max_wait()) << "1 is still a zombie";

  gone.insert(1);
  reported.clear();
  w.poll([&](std::size_t i) { return !gone.count(i); }, [&](std::size_t i) { reported.insert(i); });
  EXPECT_EQ(reported, (std::set<std::size_t>{1})) << "each reap is reported once";
  EXPECT_FALSE(w.max_wait());
}

}  // namespace
}  // namespace pwait
