// The poll backend: kill(pid, 0) and /proc/PID/stat on a timer, for kernels
// or sandboxes without pidfds. Each target's start time is recorded when
// watching begins; a PID whose start time changed is a new process, so the
// target is gone even though the number exists.

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// Adaptive interval: quick at first (short-lived targets are the common
// case), backing off to the cap that keeps the wake-up within ~100 ms.
constexpr Duration kFirstInterval = milliseconds(5);
constexpr Duration kMaxInterval = milliseconds(100);
// With thousands of targets one sweep is long: the interval stretches so
// that polling takes at most 1/kDutyRatio of the time, but never past
// kMaxStretched, so even 20,000 targets are noticed within a second or so.
constexpr int kDutyRatio = 20;
constexpr Duration kMaxStretched = milliseconds(1000);

class PollWaiter final : public Waiter {
 public:
  PollWaiter(EventLoop& loop, const WatchSpec& spec) : loop_(loop), spec_(spec) {}

  void watch(std::span<const pid_t> pids, std::vector<Event>& out) override {
    pids_ = pids;
    targets_.resize(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) {
      auto st = read_proc_stat(pids[i]);
      if (!st) {
        out.push_back({EventKind::missing, i, std::nullopt});
        targets_[i].done = true;
        continue;
      }
      refuse_thread_id(pids[i]);
      targets_[i].start_time = st->start_time;
      live_.push_back(i);
      check(i, *st, out);
    }
    std::erase_if(live_, [&](std::size_t i) { return targets_[i].done; });
  }

  void wait(std::vector<Event>& out) override {
    std::size_t before = out.size();
    while (out.size() == before && !loop_.stopped()) {
      loop_.wait(next_interval());
      if (loop_.stopped()) break;
      auto sweep_start = Clock::now();
      for (std::size_t i : live_) {
        auto st = read_proc_stat(pids_[i]);
        if (st && st->start_time == targets_[i].start_time) {
          check(i, *st, out);
        } else {
          gone(i, out);
        }
      }
      std::erase_if(live_, [&](std::size_t i) { return targets_[i].done; });
      last_sweep_ = Clock::now() - sweep_start;
    }
  }

 private:
  struct Target {
    unsigned long long start_time = 0;
    bool exited = false;
    bool done = false;  // nothing more to report
    std::optional<int> status;
  };

  Duration next_interval() {
    if (spec_.interval) return *spec_.interval;
    interval_ = std::min(kMaxInterval, interval_ == Duration::zero() ? kFirstInterval : interval_ * 3 / 2);
    return std::max(interval_, std::min(last_sweep_ * kDutyRatio, kMaxStretched));
  }

  // The target's process still holds its PID: a zombie, or running.
  void check(std::size_t i, const ProcStat& st, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (t.exited || !st.group_exited()) return;
    t.exited = true;
    t.status = zombie_status(pids_[i], st);
    out.push_back({EventKind::exited, i, t.status, true, st.ppid});
    t.done = !spec_.follow_reap;
  }

  // The target's PID is free or belongs to another process: it was reaped.
  void gone(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (!t.exited) {
      t.exited = true;  // it exited and was reaped between two looks: no status
      out.push_back({EventKind::exited, i, std::nullopt});
    }
    if (spec_.follow_reap) out.push_back({EventKind::reaped, i, t.status});
    t.done = true;
  }

  EventLoop& loop_;
  WatchSpec spec_;
  std::span<const pid_t> pids_;
  std::vector<Target> targets_;
  std::vector<std::size_t> live_;  // targets still to look at
  Duration interval_{};
  Duration last_sweep_{};
};

}  // namespace

std::optional<std::string> poll_probe(const Needs& needs) {
  if (!read_proc_stat(getpid())) return "/proc is not mounted";
  if (needs.must_know_status) return "cannot promise every exit status: it sees one only if it catches the zombie";
  return std::nullopt;
}

std::unique_ptr<Waiter> poll_create(EventLoop& loop, const WatchSpec& spec) {
  return std::make_unique<PollWaiter>(loop, spec);
}

}  // namespace pwait
