#include "pwait/event_loop.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <climits>

#include "pwait/error.h"

namespace pwait {
namespace {

constexpr std::uint64_t reserved = std::uint64_t{1} << 63;
constexpr std::uint64_t timer_tag = reserved | 1;
constexpr std::uint64_t signal_tag = reserved | 2;

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : stop_signals) sigaddset(&set, sig);
  return set;
}

int to_epoll_timeout(std::optional<Duration> wait) {
  if (!wait) return -1;
  if (*wait <= Duration::zero()) return 0;
  // Round up so a short wait never turns into a busy loop of 0 ms waits.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wait).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

void block_stop_signals() {
  sigset_t set = stop_set();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw_errno("sigprocmask");
}

EventLoop::EventLoop(Clock::time_point started, std::optional<Duration> timeout)
    : started_(started) {
  epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw_errno("epoll_create1");

  sigset_t set = stop_set();
  signals_ = Fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals_) throw_errno("signalfd");
  add(signals_.get(), EPOLLIN, signal_tag);

  if (timeout) {
    timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) throw_errno("timerfd_create");
    // steady_clock is CLOCK_MONOTONIC on Linux, so the deadline is absolute.
    auto deadline = (started + *timeout).time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(deadline);
    itimerspec spec{};
    spec.it_value.tv_sec = secs.count();
    spec.it_value.tv_nsec = std::chrono::nanoseconds(deadline - secs).count();
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
      throw_errno("timerfd_settime");
    add(timer_.get(), EPOLLIN, timer_tag);
  }
}

void EventLoop::add(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl ADD");
}

void EventLoop::modify(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) throw_errno("epoll_ctl MOD");
}

void EventLoop::remove(int fd) {
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) throw_errno("epoll_ctl DEL");
}

std::span<const epoll_event> EventLoop::wait(std::optional<Duration> max_wait) {
  if (stopped()) return {};
  int n;
  do {
    n = epoll_wait(epoll_.get(), ready_.data(), static_cast<int>(ready_.size()),
                   to_epoll_timeout(max_wait));
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("epoll_wait");

  // Compact the backend's events to the front; note ours.
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t tag = ready_[i].data.u64;
    if (tag == timer_tag) {
      timed_out_ = true;
    } else if (tag == signal_tag) {
      signalfd_siginfo info{};
      if (read(signals_.get(), &info, sizeof info) == sizeof info && stop_signal_ == 0)
        stop_signal_ = static_cast<int>(info.ssi_signo);
    } else {
      ready_[kept++] = ready_[i];
    }
  }
  return {ready_.data(), static_cast<std::size_t>(kept)};
}

}  // namespace pwait
