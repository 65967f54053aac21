#pragma once
// Following exited targets (zombies) to their reap, for the backends that
// hold a pidfd per zombie. Where pidfds live on pidfs (Linux 6.9) a pidfd
// reports the reap as EPOLLHUP, which epoll delivers even with no events
// asked for; before, nothing reports it, and the zombies are looked at every
// 100 ms instead, on the owning Source's timer.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/pidfd.h"

namespace pwait {

class ReapWatch {
 public:
  static constexpr Duration kInterval = std::chrono::milliseconds(100);

  /// `owner` is the Source whose expired() calls poll(). `kernel_reports`:
  /// whether pidfds report the reap (tests pass false to run the polling of
  /// older kernels).
  ReapWatch(EventLoop& loop, EventLoop::Source& owner, bool kernel_reports = pidfd_features().inode)
      : loop_(loop), owner_(owner), kernel_reports_(kernel_reports) {}

  /// Starts following target `i`. True when the kernel reports its reap:
  /// the caller then arms its pidfd in the epoll for EPOLLHUP alone. False
  /// when it is polled instead.
  bool follow(std::size_t i) {
    if (kernel_reports_) return true;
    poll_instead(i);
    return false;
  }
  /// Follows target `i` by polling, whatever the kernel (it has no pidfd).
  void poll_instead(std::size_t i) {
    if (polled_.empty()) loop_.set_timer(owner_, Clock::now() + kInterval);
    polled_.push_back(i);
  }
  bool polling() const { return !polled_.empty(); }

  /// Looks at the polled targets: calls `reaped(i)` for each that `alive(i)`
  /// says is gone, and stops following it. Call it when the owner's timer
  /// expires; it sets the next one while targets are left.
  template <class Alive, class Reaped>
  void poll(Alive&& alive, Reaped&& reaped) {
    std::erase_if(polled_, [&](std::size_t i) {
      if (alive(i)) return false;
      reaped(i);
      return true;
    });
    if (!polled_.empty()) loop_.set_timer(owner_, Clock::now() + kInterval);
  }

 private:
  EventLoop& loop_;
  EventLoop::Source& owner_;
  const bool kernel_reports_;
  std::vector<std::size_t> polled_;
};

}  // namespace pwait
