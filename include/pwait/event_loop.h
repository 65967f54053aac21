#pragma once
// The one loop. Everything pwait waits on (a backend's fds, a pidfile being
// read, stdout) is a Source that registers its fds, a timer or signals here;
// the policy runs the loop and the loop tells each Source what is ready. The
// deadline is a timerfd and the signals arrive through a signalfd, both in
// the same epoll, so every Source stops the same way.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "pwait/fd.h"

namespace pwait {

using Duration = std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

/// The signals that end pwait (exit 128+N after cleaning up), unless ignored
/// when pwait started (nohup, a script's background job): those stay ignored.
inline constexpr std::array<int, 3> stop_signals = {SIGINT, SIGTERM, SIGHUP};

/// Whether `sig` was ignored when pwait started (SIG_IGN survives execve):
/// pwait leaves such a signal alone.
bool signal_ignored(int sig);

class EventLoop {
 public:
  /// Something the loop serves. Each call happens inside run_once().
  class Source {
   public:
    /// One of its fds, added with `index`, is ready with `events`.
    virtual void ready(std::uint32_t /*index*/, std::uint32_t /*events*/) {}
    /// Its timer (set_timer) has come.
    virtual void expired() {}
    /// A signal it watches (watch_signal) has arrived.
    virtual void signalled(const signalfd_siginfo& /*info*/) {}

   protected:
    ~Source() = default;
  };

  /// Blocks the stop signals (those not ignored) so that they wait in the
  /// loop instead of killing pwait mid-cleanup. They stay blocked when the
  /// loop is gone: one that came late must not cut the exit short.
  /// `started` is when pwait started (elapsed times count from it); the
  /// deadline, if any, is `started + *timeout`.
  EventLoop(Clock::time_point started, std::optional<Duration> timeout);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Adds `fd`: when ready, `source.ready(index, events)`.
  void add(int fd, std::uint32_t events, Source& source, std::uint32_t index);
  /// add(), or false, with errno EPERM, for a file epoll cannot watch (a
  /// regular file, /dev/null). Not an exception: an output redirected to a
  /// file is common, and a static binary's first throw costs about 2 ms.
  bool add_if_pollable(int fd, std::uint32_t events, Source& source, std::uint32_t index);
  void modify(int fd, std::uint32_t events, Source& source, std::uint32_t index);
  void remove(int fd);
  /// Calls `source.expired()` once `when` has come; nullopt cancels. One
  /// timer per source.
  void set_timer(Source& source, std::optional<Clock::time_point> when);
  /// Delivers `sig` to `source.signalled()` instead of its default action.
  void watch_signal(int sig, Source& source);
  /// Forgets `source`: its timer and signals (its fds are its own to remove).
  void forget(Source& source);

  /// Waits until something is ready or due, and tells the sources. Returns
  /// at once, doing nothing, once the loop has stopped.
  void run_once();

  /// A new deadline (nullopt: none); the loop runs again if it had timed out.
  void set_deadline(std::optional<Clock::time_point> deadline);
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  bool timed_out() const { return timed_out_; }
  int stop_signal() const { return stop_signal_; }  ///< 0 if none arrived
  bool stopped() const { return timed_out_ || stop_signal_ != 0; }
  Clock::time_point started() const { return started_; }
  /// Time since pwait started.
  Duration elapsed() const { return Clock::now() - started_; }

 private:
  std::uint32_t slot_of(Source& source);
  void read_signals();
  void fire_timers();

  Clock::time_point started_;
  Fd epoll_;
  Fd timer_;
  Fd signals_;
  sigset_t watched_{};  // in the signalfd
  std::optional<Clock::time_point> deadline_;
  bool timed_out_ = false;
  int stop_signal_ = 0;
  struct Slot {
    Source* source;
    std::optional<Clock::time_point> timer;
  };
  std::vector<Slot> slots_;
  std::vector<std::pair<int, Source*>> signal_watchers_;
  std::array<epoll_event, 256> ready_{};
};

}  // namespace pwait
