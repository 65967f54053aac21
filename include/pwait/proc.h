#pragma once
// Reading processes through /proc, shared by the backends.

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pwait {

/// The fields of /proc/PID/stat that pwait uses.
struct ProcStat {
  std::string comm;                  ///< field 2: the command name, at most 15 bytes, any byte but NUL
  char state = '?';                  ///< field 3: R S D Z X t T ...
  pid_t ppid = 0;                    ///< field 4
  pid_t pgrp = 0;                    ///< field 5: process group
  pid_t session = 0;                 ///< field 6
  int tty_nr = 0;                    ///< field 7: the controlling terminal (0: none)
  long num_threads = 0;              ///< field 20
  unsigned long long start_time = 0; ///< field 22: clock ticks since boot
  int exit_code = 0;                 ///< field 52: wait(2) status; 0 if masked or absent

  /// The whole thread group has exited: a zombie leader with no live thread.
  /// (A leader that called pthread_exit shows 'Z' while its threads run.)
  bool group_exited() const { return (state == 'Z' || state == 'X') && num_threads <= 1; }
};

/// Parses the text of /proc/PID/stat; nullopt when it is malformed.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

/// Reads /proc/PID/stat; nullopt when no such process (or thread) exists,
/// or /proc hides it from us (mounted with hidepid).
std::optional<ProcStat> read_proc_stat(pid_t pid);

/// Whether some process or thread has number `pid` (kill(pid, 0)), whatever
/// /proc shows us.
bool process_exists(pid_t pid);

/// The fields of /proc/PID/status that pwait reads.
struct ProcStatus {
  std::string name;            ///< Name: the command name, as the kernel escapes it
  pid_t tgid = 0;              ///< the thread group (process) a task belongs to
  pid_t ppid = 0;
  pid_t tracer = 0;            ///< TracerPid: the tracing thread, 0 if none
  std::array<uid_t, 4> uid{};  ///< real, effective, saved, filesystem
  std::array<gid_t, 4> gid{};
  std::uint64_t cap_eff = 0;   ///< effective capabilities
};

/// Parses the text of /proc/PID/status; nullopt when Tgid, Uid or Gid is
/// missing or malformed.
std::optional<ProcStatus> parse_proc_status(std::string_view text);

/// Reads /proc/PID/status; nullopt when no such task exists (or /proc hides it).
std::optional<ProcStatus> read_proc_status(pid_t pid);

/// The thread-group id of task `pid` (from /proc/PID/status); nullopt if gone.
/// Differs from `pid` when `pid` names a thread that is not a group leader.
std::optional<pid_t> read_tgid(pid_t pid);

/// The message for a target `pid` that names a thread, not a process:
/// "1235: is a thread of process 1234, not a process".
std::string not_a_process(pid_t pid, std::optional<pid_t> tgid);

/// Whether the kernel shows us `pid`'s exit_code in /proc/PID/stat: it masks
/// it (reads 0) unless we may ptrace-read the process.
bool exit_code_readable(pid_t pid);

/// The exit status of zombie `pid` whose stat is `stat`: the exit_code field,
/// unless it reads 0 because the kernel masks it from us (we may not
/// ptrace-read the target), in which case it is unknown.
std::optional<int> zombie_status(pid_t pid, const ProcStat& stat);

/// The number in a kernel setting's file (/proc/sys/...); nullopt if it
/// cannot be read or is not a number. Never throws.
std::optional<long> read_sysctl(const char* path);

/// PID_MAX_LIMIT on 64-bit: no PID is larger, whatever pid_max says.
inline constexpr pid_t kPidMaxLimit = 4 << 20;

/// The largest PID number (/proc/sys/kernel/pid_max; kPidMaxLimit if unreadable).
pid_t pid_max();

/// Whether pwait runs in the initial user namespace (capabilities held in
/// another hold only there). True when /proc cannot tell.
bool in_initial_user_namespace();

// ---- ptrace permission, as far as /proc tells (the kernel has the last word)

/// Whether pwait holds CAP_SYS_PTRACE in the initial user namespace: it may
/// trace any process, and a set-user-ID program a target execs keeps its
/// privileges (under a tracer without it, the kernel runs it unprivileged).
bool may_trace_anything();
/// Why Yama forbids attaching to a non-descendant; nullopt without Yama or
/// when it allows. `privileged`: may_trace_anything().
std::optional<std::string> yama_refusal(bool privileged);
/// Why `pid` cannot be seized: already traced (naming the tracer), or
/// another user's without the privilege; nullopt when it can be tried (or
/// it is gone).
std::optional<std::string> ptrace_refusal(pid_t pid, bool privileged);

}  // namespace pwait
