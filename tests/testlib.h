#pragma once
// Test targets that are never the test's children, and a runner for the
// pwait binary. Targets are controlled through pipes and signals; every wait
// has a deadline and fails the test (throws) when it passes.

#include <sys/types.h>

#include <chrono>
#include <sys/resource.h>

#include <functional>
#include <memory>
#include <thread>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "pwait/backend.h"
#include "pwait/fd.h"
#include "pwait/targets.h"

namespace pwait::testing {

using namespace std::chrono_literals;
inline constexpr std::chrono::milliseconds kDeadline = 10s;

/// Thrown when a wait in a test helper passes its deadline.
struct DeadlineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a target runs. `in` is readable by the target (bytes from
/// Target::send, EOF when the Target is destroyed), `out` writable (lines
/// that Target::read_line returns). The return value is the exit code.
using Body = std::function<int(int in, int out)>;

/// Exits with the first byte it reads as its exit code; 0 on EOF.
int exit_on_command(int in, int out);
/// Like exit_on_command, but the main thread calls pthread_exit first and a
/// second thread exits the process on command: the leader is a zombie while
/// the process lives on. Writes "ready\n" once the leader has gone.
int leader_exits_first(int in, int out);

enum class Reap {
  at_once,     ///< the nursery reaps the target as soon as it exits
  on_request,  ///< the target stays a zombie until reap()
};

/// One process that is not the test's child: the test forks a nursery, the
/// nursery forks the target and reports when it exits and when it reaped it.
class Target {
 public:
  explicit Target(Body body = exit_on_command, Reap reap = Reap::at_once);
  ~Target();  // ends the target (EOF on `in`, SIGCONT) and reaps the nursery
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  pid_t pid() const { return pid_; }
  /// Its real parent, the nursery.
  pid_t parent() const { return nursery_; }
  /// Makes an exit_on_command target exit with `code`.
  void exit(int code) { send(static_cast<char>(code)); }
  void send(char byte);
  /// kill(pid, sig). Only while the target has not been reaped.
  void kill(int sig);
  /// Next line the target wrote on `out`, without newline.
  std::string read_line(std::chrono::milliseconds deadline = kDeadline);
  /// Waits until the target has exited (and is a zombie, with Reap::on_request).
  /// Returns its wait status as its parent sees it.
  int wait_exited(std::chrono::milliseconds deadline = kDeadline);
  /// Reap::on_request: has the nursery reap it now; returns once it is gone.
  void reap(std::chrono::milliseconds deadline = kDeadline);
  /// Waits until the nursery has reaped it (Reap::at_once).
  void wait_reaped(std::chrono::milliseconds deadline = kDeadline);
  /// The nursery's next job-control report, as the real parent saw it with
  /// WUNTRACED/WCONTINUED: "stopped N" or "continued". Throws if it exits first.
  std::string wait_job_control(std::chrono::milliseconds deadline = kDeadline);

 private:
  std::string read_report(std::chrono::milliseconds deadline);
  pid_t pid_ = 0;
  pid_t nursery_ = 0;
  Reap reap_;
  bool exited_ = false, reaped_ = false;
  int status_ = 0;
  Fd in_, out_, report_, reap_cmd_;
};

/// `n` targets under one nursery. All exit with status 0 when finish() is
/// called (or the group is destroyed). With Reap::at_once the nursery reaps
/// each as it exits; with Reap::on_request they stay zombies until reap(),
/// so none can vanish before a slow-starting waiter has looked at it.
class TargetGroup {
 public:
  explicit TargetGroup(std::size_t n, Reap reap = Reap::at_once);
  ~TargetGroup();
  const std::vector<pid_t>& pids() const { return pids_; }
  void finish();
  /// Reap::on_request: has the nursery reap them all now.
  void reap() { reap_cmd_.reset(); }
  /// Waits until the nursery has reaped all of them.
  void wait_reaped(std::chrono::milliseconds deadline = kDeadline);

 private:
  std::vector<pid_t> pids_;
  pid_t nursery_ = 0;
  Fd in_, report_, reap_cmd_;
  bool done_ = false;
};

/// A PID that no process has right now (best effort: free at the moment of the call).
pid_t unused_pid();

/// A process of the test's own that holds a chosen PID, as a new process
/// does when the kernel hands a reaped target's PID out again. It does
/// nothing until destroyed (SIGKILL, then reaped).
class PidHolder {
 public:
  /// Takes `pid` with clone3's set_tid (Linux 5.5+, CAP_CHECKPOINT_RESTORE
  /// or CAP_SYS_ADMIN), named `name` if given (its comm, as the process it
  /// impersonates). Returns nullopt, with `why`, when it cannot.
  static std::optional<PidHolder> take(pid_t pid, std::string& why, const char* name = nullptr);
  PidHolder(PidHolder&& o) noexcept : pid_(o.pid_) { o.pid_ = 0; }
  PidHolder& operator=(PidHolder&&) = delete;
  ~PidHolder();
  pid_t pid() const { return pid_; }

 private:
  explicit PidHolder(pid_t pid) : pid_(pid) {}
  pid_t pid_ = 0;
};

/// The result of running a command to its end.
struct Result {
  int status = -1;    ///< wait(2) status
  int exit_code() const;  ///< WEXITSTATUS, or -1 if it did not exit normally
  std::string out, err;
};

/// A running command with stdout and stderr captured.
class Command {
 public:
  struct Setup {
    std::optional<std::string> stdin_data;   ///< fed to its stdin, then closed
    int stdin_fd = -1;                       ///< or this fd as its stdin (the test keeps its own copy)
    int stdout_fd = -1;                      ///< this fd as its stdout, not captured (the test keeps its copy)
    bool own_process_group = false;          ///< in a process group of its own (so job-control stops work)
    std::optional<rlim_t> nofile_soft;       ///< soft RLIMIT_NOFILE in the child
    std::optional<rlim_t> nofile_hard;
    std::vector<std::string> env;            ///< extra NAME=VALUE entries
    bool unprivileged = false;               ///< run as uid/gid 65534 (nobody)
  };
  Command(std::vector<std::string> argv, Setup setup);
  explicit Command(std::vector<std::string> argv) : Command(std::move(argv), Setup{}) {}
  ~Command();  // SIGKILLs and reaps it if still running
  pid_t pid() const { return pid_; }
  void kill(int sig);
  /// Whether it is still running after `within` (it is given that long to end).
  bool running_after(std::chrono::milliseconds within);
  /// Waits for it to end and collects its output.
  Result wait(std::chrono::milliseconds deadline = kDeadline);
  /// While it runs: reads its output until `ready` holds for what it has
  /// written so far, and returns that. Throws DeadlineError when `deadline`
  /// passes first, std::runtime_error when it closes its output first.
  Result output_when(const std::function<bool(const Result&)>& ready,
                     std::chrono::milliseconds deadline = kDeadline);

 private:
  void drain(bool block_until_eof, std::chrono::steady_clock::time_point until);
  pid_t pid_ = 0;
  bool done_ = false;
  Result result_;
  Fd out_, err_;
};

/// Waits until process `pid`'s main thread is blocked in epoll_wait: for
/// pwait, it has finished starting to watch and waits for events.
void wait_until_waiting(pid_t pid, std::chrono::milliseconds deadline = kDeadline);

/// Waits until process `pid` holds a pidfd to `target` (its fdinfo says
/// "Pid: TARGET"): pwait has pinned that target.
void wait_until_holds_pidfd(pid_t pid, pid_t target, std::chrono::milliseconds deadline = kDeadline);

/// The child of `parent` whose name (comm) is `name`, once there is one.
pid_t wait_for_child_named(pid_t parent, const std::string& name, std::chrono::milliseconds deadline = kDeadline);

/// Waits until the clock (CLOCK_BOOTTIME, in the clock ticks of
/// /proc/PID/stat's start time) has passed tick `tick`.
void wait_until_tick_after(unsigned long long tick, std::chrono::milliseconds deadline = kDeadline);

/// A backend's Waiter run as pwait's main thread runs it, in a thread of its
/// own: pins the PIDs, creates the Waiter, watches and runs the one loop
/// until the deadline or until destroyed. The test's thread meanwhile drives
/// the targets and reads the events. (ptrace takes requests only from the
/// thread that seized, so the Waiter's whole life is in that thread; and
/// SIGCHLD, which it reads through the loop, is blocked in the test's thread
/// too while it lives, so that the kernel does not hand it there.)
class WaiterThread {
 public:
  WaiterThread(const Backend& backend, std::vector<pid_t> pids, Request request,
               std::chrono::milliseconds deadline = kDeadline);
  ~WaiterThread();  // destroys the Waiter (releasing every target) and joins
  WaiterThread(const WaiterThread&) = delete;
  WaiterThread& operator=(const WaiterThread&) = delete;

  using Events = std::vector<Event>;
  /// The events so far, once `done(events)` holds or the loop has stopped.
  Events collect(const std::function<bool(const Events&)>& done);
  /// What watch() reported at once, before the loop ran.
  Events watched();
  /// The PIDs pin_all found missing.
  std::vector<pid_t> missing();
  /// Whether the loop's deadline passed.
  bool timed_out();
  /// Destroys the Waiter now (in its thread) and waits until it is gone.
  void stop();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
  sigset_t old_mask_{};
};

/// The pwait binary under test.
std::string pwait_binary();
/// A Command's argv: the pwait binary, then `args`.
std::vector<std::string> pwait_args(std::vector<std::string> args);
/// A PID as text, for argv and for expected output.
inline std::string str(pid_t pid) { return std::to_string(pid); }
/// A copy of pwait that uid 65534 can execute wherever the build tree is;
/// Command uses it for unprivileged runs of pwait_binary().
std::string unprivileged_copy_of_pwait();
/// Runs pwait with `args` to its end.
Result run_pwait(std::vector<std::string> args, Command::Setup setup = {},
                 std::chrono::milliseconds deadline = kDeadline);

/// Whether this process may use setuid to 65534 (unprivileged runs).
bool can_drop_privileges();

/// Whether an unprivileged pwait can use the netlink backend here (Linux 6.6
/// takes unprivileged proc connector subscribers): asked of pwait itself.
bool unprivileged_netlink();

}  // namespace pwait::testing
