#pragma once
// The epoll set that pwait's policy and its backend share. The deadline is a
// timerfd and the signals that stop pwait arrive through a signalfd, both in
// the same epoll as the backend's own fds, so every backend stops the same way.

#include <sys/epoll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

#include "pwait/fd.h"

namespace pwait {

using Duration = std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

/// The signals that end pwait (exit 128+N after cleaning up). They must be
/// blocked, with block_stop_signals(), before any target is watched.
inline constexpr std::array<int, 3> stop_signals = {2 /*SIGINT*/, 15 /*SIGTERM*/, 1 /*SIGHUP*/};

/// Blocks the stop signals in the calling thread, so they wait in the
/// EventLoop's signalfd instead of killing pwait mid-cleanup.
void block_stop_signals();

class EventLoop {
 public:
  /// `started` is when pwait started (elapsed times count from it); the
  /// deadline, if any, is `started + *timeout`.
  EventLoop(Clock::time_point started, std::optional<Duration> timeout);

  /// Adds a backend fd; `tag` comes back in epoll_event.data.u64. Tags with
  /// the top bit set are reserved for the loop itself.
  void add(int fd, std::uint32_t events, std::uint64_t tag);
  void modify(int fd, std::uint32_t events, std::uint64_t tag);
  void remove(int fd);

  /// Waits until one of the backend's fds is ready, `max_wait` has passed
  /// (forever when nullopt), the deadline has passed or a stop signal came.
  /// Returns the ready backend fds only; it is empty in the other cases.
  /// After a timeout or a signal it returns at once, empty, every time.
  std::span<const epoll_event> wait(std::optional<Duration> max_wait = {});

  bool timed_out() const { return timed_out_; }
  int stop_signal() const { return stop_signal_; }  ///< 0 if none arrived
  bool stopped() const { return timed_out_ || stop_signal_ != 0; }
  /// Time since pwait started.
  Duration elapsed() const { return Clock::now() - started_; }

 private:
  Clock::time_point started_;
  Fd epoll_;
  Fd timer_;
  Fd signals_;
  bool timed_out_ = false;
  int stop_signal_ = 0;
  std::array<epoll_event, 256> ready_{};
};

}  // namespace pwait
