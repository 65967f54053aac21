#pragma once
// ptrace as pwait uses it, mechanics only: seize a process's leader thread
// with an exit stop, resume every stop at once as if it were not traced,
// and detach handing back whatever was pending. Single-threaded: the kernel
// takes ptrace requests for a tracee only from the thread that seized it,
// so every call comes from the one loop's thread.

#include <sys/types.h>

#include <signal.h>

#include <chrono>
#include <span>
#include <vector>

#include "pwait/event_loop.h"

namespace pwait::tracer {

/// PTRACE_SEIZE of `pid`, with no options: 0, or the errno (EPERM: not
/// permitted, or a zombie leader; ESRCH: gone). No exit stop: the tracer's
/// wait has the status anyway, and an exit stop would hold every exiting
/// target until pwait has run (on Linux 6.18 a SIGKILL stops there too).
int seize(pid_t pid);

/// Throws WatchError saying why seizing `pid` failed with `err` (EPERM:
/// already traced, another user's, Yama), or std::system_error.
[[noreturn]] void refuse(pid_t pid, int err);

/// The PID of a child or tracee of ours with something to wait for (a stop,
/// or with `exits` an exit too), without consuming it; 0 when there is
/// none. It walks the kernel's list of every tracee, up to the first found.
pid_t waitable(bool exits);

/// What one wait status of a traced leader meant, once acted upon.
struct Step {
  enum Kind {
    resumed,  ///< a stop, resumed as if untraced (its signal delivered, a group-stop listened)
    ended,    ///< the whole group is gone; our wait handed the zombie to its parent: `status`
  } kind;
  int status = 0;
};
/// Acts on wait status `st` of traced leader `pid`.
Step handle(pid_t pid, int st);

/// Interrupts each tracee and detaches it from the stop it reports: a
/// signal-delivery stop gets its signal back, a group-stop goes back to an
/// ordinary stop ('T'). Waits at most `grace` for a tracee to stop. Each
/// stop is found by a peek at whatever is waitable, so letting go of n
/// tracees costs O(n) waits, not O(n^2). Returns the tracees still traced:
/// a leader that left alone (pthread_exit) while its threads run, a zombie
/// that never stops and cannot be detached (found after a moment by its
/// /proc state), and one that did not stop in time (uninterruptible sleep).
/// The kernel lets go of those when pwait exits. Never throws.
std::vector<pid_t> release(std::span<const pid_t> which, Duration grace) noexcept;

/// Makes sure SIGCHLD reaches the loop for every stop: blocked (read
/// through the loop's signalfd) and not ignored (for an ignored SIGCHLD the
/// kernel sends none for ptrace stops). Restores the action when destroyed.
class ChildSignal {
 public:
  ChildSignal();
  ~ChildSignal();
  ChildSignal(const ChildSignal&) = delete;
  ChildSignal& operator=(const ChildSignal&) = delete;

 private:
  struct sigaction old_action_ {};
  bool changed_ = false;
};

/// Stops pwait with job-control signal `sig` (SIGTSTP, SIGTTIN, SIGTTOU) as
/// its default action would have, once the caller has let go of what must
/// not be stopped with it; returns once a SIGCONT resumed pwait.
void stop_self(int sig);

}  // namespace pwait::tracer
