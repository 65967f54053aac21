#pragma once
// pwait's standard output and standard error, written so that a reader that
// stops reading never stops pwait: once attached to the loop, a line waits
// in memory until its file can take it without blocking, and the loop goes
// on meanwhile (the deadline fires, a stop signal acts).

#include <exception>
#include <string>
#include <string_view>

#include "pwait/event_loop.h"
#include "pwait/report.h"

namespace pwait {

class StdOutput final : public Output {
 public:
  /// Opens /dev/null on any of fds 0, 1 and 2 that is closed, so that no fd
  /// pwait opens later takes their place; remembers that stdout was closed
  /// (writing to it is then an error, as to any file that refuses).
  StdOutput();
  ~StdOutput();
  StdOutput(const StdOutput&) = delete;
  StdOutput& operator=(const StdOutput&) = delete;

  void out(std::string_view line) override;
  void err(std::string_view line) override;
  /// A terminal's status line: cleared before any other line and redrawn
  /// after it, cleared at drain().
  void status(std::string_view line) override;

  /// From now on lines go through `loop`; before, each is written at once.
  void attach(EventLoop& loop);
  /// Writes what is left through the loop, then detaches: returns once all
  /// is written, or at once after a stop signal (what is left is dropped).
  void drain();

  /// The error (errno) of the first write to stdout that failed, or 0.
  /// Writes to stderr that fail are dropped: there is nowhere to say so.
  int stdout_error() const;

 private:
  class Stream;
  Stream* out_;
  Stream* err_;
  EventLoop* loop_ = nullptr;
  std::string status_;  // the status line on the terminal now
};

/// The one line main prints for a failure that ends pwait: "pwait: ...",
/// with one hint for a usage error.
std::string failure_message(const std::exception& e);
/// The exit code for it: 2 for a usage error, 3 for the rest.
int failure_exit_code(const std::exception& e);

}  // namespace pwait
