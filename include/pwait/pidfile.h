#pragma once
// Naming targets in text: an operand, or a pidfile read as its data comes.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "pwait/event_loop.h"

namespace pwait {

/// A target as named: a PID, or util-linux's PID:INODE handle (the pidfs
/// inode of a pidfd to the process: only that process will do).
struct Named {
  pid_t pid = 0;
  std::uint64_t inode = 0;  ///< 0: any process with that PID
};

/// Parses "PID" or "PID:INODE". Throws UsageError naming the text for one
/// that is not a decimal number, is 0, or lies beyond the PID type. A PID at
/// or above the kernel's pid_max is well-formed: it names no process.
Named parse_named(std::string_view text);

/// Splits pidfile text into targets, in chunks as it arrives: targets
/// separated by white space or commas (pgrep -d, writes them so), `#` to
/// the end of the line a comment. Throws UsageError naming the file and the
/// line for anything else, for binary data and for more than 16 MiB.
class PidfileParser {
 public:
  using Add = std::function<void(const Named&)>;
  explicit PidfileParser(std::string name) : name_(std::move(name)) {}
  void feed(std::string_view chunk, const Add& add);
  /// The end of the file: the last target, if it had no separator after it.
  void finish(const Add& add);

 private:
  void flush(const Add& add);
  std::string name_;
  std::string token_;
  std::size_t line_ = 1, token_line_ = 1, size_ = 0;
  bool comment_ = false;
};

/// Reads the pidfile at `path` ('-' is standard input) to its end within
/// `loop`, so that the deadline and the stop signals hold while it waits for
/// data (a pipe, a FIFO whose writer has yet to come or has gone silent),
/// and hands each target to `add` as soon as it is read. false when the loop
/// stopped first. Throws UsageError for a file that cannot be read or holds
/// anything but targets; with `require_lock` (-L), WatchError for a file
/// that no process holds locked (its daemon is gone, so the PID in it may
/// belong to another process by now).
bool read_pidfile(EventLoop& loop, const std::string& path, const PidfileParser::Add& add, bool require_lock = false);

}  // namespace pwait
