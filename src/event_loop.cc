#include "pwait/event_loop.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "pwait/error.h"

namespace pwait {
namespace {

// epoll_event.data.u64: the source's slot in the top half, its index below.
constexpr std::uint32_t kLoopSlot = UINT32_MAX;  // the loop's own fds
constexpr std::uint64_t kTimerTag = (std::uint64_t{kLoopSlot} << 32) | 1;
constexpr std::uint64_t kSignalTag = (std::uint64_t{kLoopSlot} << 32) | 2;

std::uint64_t tag(std::uint32_t slot, std::uint32_t index) { return (std::uint64_t{slot} << 32) | index; }

int to_epoll_timeout(std::optional<Clock::time_point> when) {
  if (!when) return -1;
  auto wait = *when - Clock::now();
  if (wait <= Duration::zero()) return 0;
  // Round up so a short wait never turns into a busy loop of 0 ms waits.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

bool signal_ignored(int sig) {
  struct sigaction old {};
  return sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN;
}

EventLoop::EventLoop(Clock::time_point started, std::optional<Duration> timeout) : started_(started) {
  epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw_errno("epoll_create1");
  sigemptyset(&watched_);
  for (int sig : stop_signals)
    if (!signal_ignored(sig)) sigaddset(&watched_, sig);
  if (sigprocmask(SIG_BLOCK, &watched_, nullptr) != 0) throw_errno("sigprocmask");
  signals_ = Fd(signalfd(-1, &watched_, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals_) throw_errno("signalfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kSignalTag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, signals_.get(), &ev) != 0) throw_errno("epoll_ctl ADD", "signalfd");
  if (timeout) set_deadline(started + *timeout);
}

std::uint32_t EventLoop::slot_of(Source& source) {
  for (std::size_t k = 0; k < slots_.size(); ++k)
    if (slots_[k].source == &source) return static_cast<std::uint32_t>(k);
  slots_.push_back({&source, std::nullopt});
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

void EventLoop::add(int fd, std::uint32_t events, Source& source, std::uint32_t index) {
  if (!add_if_pollable(fd, events, source, index)) throw_errno("epoll_ctl ADD");
}

bool EventLoop::add_if_pollable(int fd, std::uint32_t events, Source& source, std::uint32_t index) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag(slot_of(source), index);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0) return true;
  if (errno != EPERM) throw_errno("epoll_ctl ADD");
  return false;
}

void EventLoop::modify(int fd, std::uint32_t events, Source& source, std::uint32_t index) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag(slot_of(source), index);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) throw_errno("epoll_ctl MOD");
}

void EventLoop::remove(int fd) {
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) throw_errno("epoll_ctl DEL");
}

void EventLoop::set_timer(Source& source, std::optional<Clock::time_point> when) {
  slots_[slot_of(source)].timer = when;
}

void EventLoop::watch_signal(int sig, Source& source) {
  signal_watchers_.emplace_back(sig, &source);
  if (sigismember(&watched_, sig)) return;
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  if (sigprocmask(SIG_BLOCK, &one, nullptr) != 0) throw_errno("sigprocmask");
  sigaddset(&watched_, sig);
  if (signalfd(signals_.get(), &watched_, 0) < 0) throw_errno("signalfd");
}

void EventLoop::forget(Source& source) {
  for (auto& slot : slots_)
    if (slot.source == &source) slot.timer.reset();
  std::erase_if(signal_watchers_, [&](const auto& w) { return w.second == &source; });
}

void EventLoop::set_deadline(std::optional<Clock::time_point> deadline) {
  deadline_ = deadline;
  timed_out_ = false;
  if (!deadline) {
    itimerspec off{};
    if (timer_) timerfd_settime(timer_.get(), 0, &off, nullptr);
    return;
  }
  if (!timer_) {
    timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) throw_errno("timerfd_create");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev) != 0) throw_errno("epoll_ctl ADD", "timerfd");
  }
  // steady_clock is CLOCK_MONOTONIC on Linux, so the deadline is absolute.
  auto at = deadline->time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(at);
  itimerspec spec{};
  spec.it_value.tv_sec = secs.count();
  spec.it_value.tv_nsec = std::chrono::nanoseconds(at - secs).count();
  if (spec.it_value.tv_sec <= 0 && spec.it_value.tv_nsec <= 0) spec.it_value.tv_nsec = 1;
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) throw_errno("timerfd_settime");
}

void EventLoop::run_once() {
  if (stopped()) return;
  std::optional<Clock::time_point> next;
  for (const Slot& s : slots_)
    if (s.timer && (!next || *s.timer < *next)) next = s.timer;
  int n;
  do n = epoll_wait(epoll_.get(), ready_.data(), static_cast<int>(ready_.size()), to_epoll_timeout(next));
  while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("epoll_wait");
  for (int k = 0; k < n; ++k) {
    std::uint64_t t = ready_[k].data.u64;
    if (t == kTimerTag) {
      std::uint64_t expirations;
      while (read(timer_.get(), &expirations, sizeof expirations) < 0 && errno == EINTR) {
      }
      timed_out_ = true;
    } else if (t == kSignalTag) {
      read_signals();
    } else {
      slots_[t >> 32].source->ready(static_cast<std::uint32_t>(t), ready_[k].events);
    }
  }
  fire_timers();
}

void EventLoop::read_signals() {
  signalfd_siginfo info{};
  while (read(signals_.get(), &info, sizeof info) == sizeof info) {
    int sig = static_cast<int>(info.ssi_signo);
    if (std::find(stop_signals.begin(), stop_signals.end(), sig) != stop_signals.end()) {
      if (stop_signal_ == 0) stop_signal_ = sig;
      continue;
    }
    for (auto& [watched, source] : signal_watchers_)
      if (watched == sig) source->signalled(info);
  }
}

void EventLoop::fire_timers() {
  auto now = Clock::now();
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    if (!slots_[k].timer || *slots_[k].timer > now) continue;
    slots_[k].timer.reset();
    slots_[k].source->expired();
  }
}

}  // namespace pwait
