#pragma once
// Turning what happened into text: the verbose lines and the JSON Lines
// schema (documented in man/pwait.1). The policy decides what to say; this
// says it.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pwait/event.h"
#include "pwait/event_loop.h"

namespace pwait {

/// User input as pwait quotes it in a message: in single quotes, every byte
/// outside printable ASCII escaped (\xNN), at most 40 of them shown. A
/// terminal escape or a line break in an argument never reaches stderr raw.
std::string shown(std::string_view text);
/// The same without the quotes: a process name in a -v line.
std::string printable(std::string_view text);

/// `text` as a JSON string, quotes included: valid UTF-8 passes through, a
/// control character or a byte that is not UTF-8 (a process name may hold
/// any byte) becomes \u00XX, so the line stays one valid JSON value.
std::string json_string(std::string_view text);
/// A duration as people read it: "0.4s", "12s", "2m10s", "1h02m".
std::string human_duration(Duration d);
/// A signal's name as kill -l shows it, with SIG: "SIGTERM", "SIGRTMIN+2".
std::string signal_name(int sig);

/// "killed by signal 9 (SIGKILL)" / "exited with status 3" for a wait status.
std::string describe_status(int status);

/// One verbose line, without newline: "1234: exited with status 0", ...;
/// with `zombie_detail`, a zombie says so: ", zombie (parent 99 has not reaped it)".
std::string verbose_line(const Event& event, pid_t pid, bool zombie_detail = true);

/// Who a line is about: a target's PID, and where known its name (as when
/// watching began) and its pidfs inode (0: none).
struct Who {
  pid_t pid = 0;
  const std::string* name = nullptr;
  std::uint64_t inode = 0;
  const std::string* cgroup = nullptr;  ///< a cgroup target: its path (no pid then)
  std::optional<std::size_t> descendants = std::nullopt;  ///< --tree: how many descendants were seen
};

/// One JSON object, without newline. `kind` is exited/reaped/missing/timeout.
std::string json_line(std::string_view kind, const Who& who, const std::optional<int>& status,
                      bool zombie, pid_t parent, std::string_view backend, Duration elapsed);

/// The -x exit code a status stands for: its exit code, 128+N for signal N,
/// exit_code::status_unknown when unknown.
int status_exit_code(const std::optional<int>& status);

/// Where pwait's lines go: events on standard output, diagnostics on
/// standard error. Each call is one line, without its newline.
class Output {
 public:
  virtual void out(std::string_view line) = 0;
  virtual void err(std::string_view line) = 0;
  /// The one status line (--progress), redrawn in place on stderr; empty
  /// clears it. Where it is not shown, nothing.
  virtual void status(std::string_view /*line*/) {}

 protected:
  ~Output() = default;
};

/// What pwait says as it waits, in the style asked for (-v, -j or neither).
class Reporter {
 public:
  Reporter(Output& output, bool verbose, bool json, const EventLoop& loop)
      : output_(output), verbose_(verbose), json_(json), loop_(loop) {}
  void set_backend(std::string_view name) { backend_ = name; }
  Output& output() { return output_; }

  /// A PID that names no process: an error on stderr, or with
  /// `counts_as_ended` (-e) an event like the others.
  void missing(pid_t pid, bool counts_as_ended);
  /// An event that moved its target forward; `lasting`: a zombie has been
  /// one long enough for -v to say so.
  void event(const Event& e, const Who& who, bool lasting);
  /// A target still pending when the timeout passed (JSON: one object each).
  void still_pending(const Who& who, bool zombie, pid_t parent);
  /// A process the selection chose (-v: "waiting for NAME (pid N)", as
  /// pidwait -e says it), or left out and why (-v: on stderr).
  void selected(pid_t pid, std::string_view name, std::string_view skipped);
  /// The -v summary of the timeout: "timed out after 2s; still running: 12 34".
  /// `read_all`: the pidfiles had been read to their end.
  void timed_out(Duration timeout, bool reaped, bool read_all, std::string_view pids);
  /// -p: the PIDs still waited for, one a line on stdout.
  void remaining(const std::vector<pid_t>& pids);
  /// A diagnostic line: "pwait: " + text.
  void diagnostic(std::string_view text);

 private:
  Output& output_;
  bool verbose_, json_;
  const EventLoop& loop_;
  std::string_view backend_;
};

}  // namespace pwait
