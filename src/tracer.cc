#include "pwait/tracer.h"

#include <poll.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_set>
#include <vector>

#include <cstring>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/fd.h"
#include "pwait/proc.h"

namespace pwait::tracer {
namespace {

void* as_data(long v) { return reinterpret_cast<void*>(v); }

bool is_stop_signal(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

// Resumes `pid` from a stop. ESRCH: a SIGKILL ended the stop first; its
// exit comes through the next wait.
void resume(__ptrace_request req, pid_t pid, int sig) {
  if (ptrace(req, pid, nullptr, as_data(sig)) != 0 && errno != ESRCH)
    throw_errno(req == PTRACE_LISTEN ? "ptrace(PTRACE_LISTEN)" : "ptrace(PTRACE_CONT)", std::to_string(pid));
}

// True once tracee `pid` is no longer traced.
bool detach_if_stopped(pid_t pid) noexcept {
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return true;             // ECHILD: not ours any more
    if (r == 0) return false;           // not stopped yet
    if (!WIFSTOPPED(st)) return true;   // exited: the wait detached it
    bool signal_stop = (static_cast<unsigned>(st) >> 16) == 0;
    ptrace(PTRACE_DETACH, pid, nullptr, as_data(signal_stop ? WSTOPSIG(st) : 0));
    return true;
  }
}

}  // namespace

int seize(pid_t pid) {
  return ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0 ? 0 : errno;
}

void refuse(pid_t pid, int err) {
  if (err == EPERM) {
    bool privileged = may_trace_anything();
    if (auto why = ptrace_refusal(pid, privileged)) throw WatchError(*why);
    if (auto why = yama_refusal(privileged)) throw WatchError(fmt::format("{}: {}", pid, *why));
    throw WatchError(fmt::format("{}: ptrace(PTRACE_SEIZE): {}", pid, strerror(err)));
  }
  throw_error(err, "ptrace(PTRACE_SEIZE)", std::to_string(pid));
}

pid_t waitable(bool exits) {
  for (;;) {
    siginfo_t peek{};
    if (waitid(P_ALL, 0, &peek, (exits ? WEXITED : 0) | WSTOPPED | WNOHANG | WNOWAIT | __WALL) == 0)
      return peek.si_pid;
    if (errno == EINTR) continue;
    if (errno != ECHILD) throw_errno("waitid", "P_ALL");
    return 0;  // no tracee and no child at all
  }
}

Step handle(pid_t pid, int st) {
  if (WIFEXITED(st) || WIFSIGNALED(st)) return {Step::ended, st};
  if (!WIFSTOPPED(st)) return {Step::resumed};
  int sig = WSTOPSIG(st);
  switch (static_cast<unsigned>(st) >> 16) {
    case PTRACE_EVENT_STOP:
      // A group-stop: stay stopped, but let SIGCONT (and the real parent's
      // wait) see it as untraced. Any other trap: carry on.
      resume(is_stop_signal(sig) ? PTRACE_LISTEN : PTRACE_CONT, pid, 0);
      return {Step::resumed};
    case 0:
      resume(PTRACE_CONT, pid, sig);  // signal-delivery stop: deliver it
      return {Step::resumed};
    default:
      resume(PTRACE_CONT, pid, 0);
      return {Step::resumed};
  }
}

std::vector<pid_t> release(std::span<const pid_t> which, Duration grace) noexcept {
  // SIGCHLD is blocked (the loop reads it): a signalfd of our own says when
  // a tracee has stopped.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  Fd sigchld(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  // A tracee that has not stopped by then may be a zombie leader whose
  // threads run on: it never will. Its /proc state says so.
  constexpr Duration kZombieCheck = std::chrono::milliseconds(100);
  std::vector<pid_t> kept;
  std::unordered_set<pid_t> pending;
  pending.reserve(which.size());
  for (pid_t pid : which)
    if (ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) == 0) pending.insert(pid);
  auto now = Clock::now();
  auto zombie_check = now + std::min(grace, kZombieCheck), due = now + grace;
  bool checked = false;
  // Every tracee is looked at once; after that, a peek names each one that
  // stops, so n tracees cost O(n) waits rather than a rescan per wake-up.
  // Whatever the peek names that is not ours to detach here (pwait's own
  // child, another tracee) ends the peeks for this wake-up with a rescan.
  bool rescan = true;
  while (!pending.empty()) {
    if (rescan) {
      std::erase_if(pending, [](pid_t pid) { return detach_if_stopped(pid); });
      rescan = false;
    } else {
      for (;;) {
        pid_t pid = 0;
        try {
          pid = waitable(true);
        } catch (const std::system_error&) {
        }
        if (pid == 0) break;
        auto it = pending.find(pid);
        if (it == pending.end() || !detach_if_stopped(pid)) {
          rescan = true;
          break;
        }
        pending.erase(it);
      }
      if (rescan) continue;
    }
    if (pending.empty()) break;
    now = Clock::now();
    if (!checked && now >= zombie_check) {
      checked = true;
      std::erase_if(pending, [&](pid_t pid) {
        auto st = read_proc_stat(pid);  // by number: a tracee of ours holds it
        if (!st || (st->state != 'Z' && st->state != 'X')) return false;
        kept.push_back(pid);
        return true;
      });
      if (pending.empty()) break;
    }
    if (now >= due) break;
    auto next = checked ? due : zombie_check;
    int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    if (sigchld) {
      pollfd p{sigchld.get(), POLLIN, 0};
      poll(&p, 1, ms);
      signalfd_siginfo info;
      while (read(sigchld.get(), &info, sizeof info) == sizeof info) {
      }
    } else {
      poll(nullptr, 0, std::min(ms, 1));
      rescan = true;  // no signal to say who stopped: look at every one
    }
  }
  kept.insert(kept.end(), pending.begin(), pending.end());
  return kept;
}

ChildSignal::ChildSignal() {
  if (sigaction(SIGCHLD, nullptr, &old_action_) != 0) throw_errno("sigaction", "SIGCHLD");
  // SA_NOCLDSTOP would hide the stops as well.
  changed_ = old_action_.sa_handler == SIG_IGN || (old_action_.sa_flags & SA_NOCLDSTOP);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  if (changed_ && sigaction(SIGCHLD, &dfl, nullptr) != 0) throw_errno("sigaction", "SIGCHLD");
}

ChildSignal::~ChildSignal() {
  if (changed_) sigaction(SIGCHLD, &old_action_, nullptr);
}

void stop_self(int sig) {
  // The signal is blocked (the loop watches it): make it pending, then let
  // it through, and its default action stops pwait right here.
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  raise(sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  pthread_sigmask(SIG_BLOCK, &one, nullptr);
}

}  // namespace pwait::tracer
