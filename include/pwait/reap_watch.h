#pragma once
// Following exited targets (zombies) to their reap, for the backends that
// hold a pidfd per zombie. From Linux 6.9 a pidfd reports the reap as
// EPOLLHUP, which epoll delivers even with no events asked for; before,
// nothing reports it, and the zombies are looked at every 100 ms instead.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/pidfd.h"

namespace pwait {

class ReapWatch {
 public:
  /// `kernel_reports`: whether pidfds report the reap (tests pass false to
  /// run the polling of older kernels).
  explicit ReapWatch(bool kernel_reports = kernel_at_least(6, 9)) : kernel_reports_(kernel_reports) {}

  /// Starts following target `i`. True when the kernel reports its reap:
  /// the caller then arms its pidfd in the epoll for EPOLLHUP alone (events
  /// 0). False when it is polled instead.
  bool follow(std::size_t i) {
    if (kernel_reports_) return true;
    polled_.push_back(i);
    return false;
  }
  /// Follows target `i` by polling, whatever the kernel (it has no pidfd).
  void poll_instead(std::size_t i) { polled_.push_back(i); }

  /// The longest the backend may sleep before poll() must look again.
  std::optional<Duration> max_wait() const {
    if (polled_.empty()) return std::nullopt;
    return std::chrono::milliseconds(100);
  }

  /// Looks at the polled targets: calls `reaped(i)` for each that
  /// `alive(i)` says is gone, and stops following it.
  template <class Alive, class Reaped>
  void poll(Alive&& alive, Reaped&& reaped) {
    std::erase_if(polled_, [&](std::size_t i) {
      if (alive(i)) return false;
      reaped(i);
      return true;
    });
  }

 private:
  const bool kernel_reports_;
  std::vector<std::size_t> polled_;
};

}  // namespace pwait
