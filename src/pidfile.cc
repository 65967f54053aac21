#include "pwait/pidfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/fd.h"
#include "pwait/report.h"

namespace pwait {
namespace {

// A pidfile is small: past this, /dev/zero or a huge log is an error, not a hang.
constexpr std::size_t kMaxSize = 16 << 20;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Reads a pidfile through the loop as data comes.
class Reader final : public EventLoop::Source {
 public:
  Reader(int fd, PidfileParser& parser, const PidfileParser::Add& add, const std::string& path)
      : fd_(fd), parser_(parser), add_(add), path_(path) {}
  bool done() const { return done_; }

  // One read: of what is there, so that it never blocks once the loop has
  // said the fd is ready, even on a blocking standard input (which is shared
  // with whoever started pwait, so never made non-blocking).
  void read_once() {
    char buf[65536];
    ssize_t n;
    do n = read(fd_, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) throw UsageError(fmt::format("pidfile {}: {}", shown(path_), strerror(errno)));
    if (n == 0) done_ = true;
    else parser_.feed({buf, static_cast<std::size_t>(n)}, add_);
  }

  void ready(std::uint32_t, std::uint32_t) override { read_once(); }

 private:
  int fd_;
  PidfileParser& parser_;
  const PidfileParser::Add& add_;
  const std::string& path_;
  bool done_ = false;
};

// Whether another process holds `fd`'s file locked, with flock(2) or fcntl(2)
// (lockf(3)), as daemons lock their pidfiles; pgrep -L asks the same.
bool locked(int fd) {
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) return errno == EWOULDBLOCK;
  flock(fd, LOCK_UN);
  struct flock probe {};
  probe.l_type = F_RDLCK;
  probe.l_whence = SEEK_SET;
  return fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type == F_WRLCK;
}

}  // namespace

Named parse_named(std::string_view text) {
  // /proc/PID, as FreeBSD's and illumos' pwait take it.
  if (text.starts_with("/proc/") && text.find(':') == std::string_view::npos) {
    std::string_view rest = text.substr(6);
    if (rest.ends_with('/')) rest.remove_suffix(1);
    if (all_digits(rest)) text = rest;
  }
  std::string_view pid = text.substr(0, text.find(':'));
  std::string_view inode = pid.size() < text.size() ? text.substr(pid.size() + 1) : std::string_view();
  Named n;
  unsigned long long v = 0;
  auto [p, ec] = std::from_chars(pid.data(), pid.data() + pid.size(), v);
  if (!all_digits(pid) || p != pid.data() + pid.size())
    throw UsageError(fmt::format("invalid PID {}: not a decimal number", shown(text)));
  if (ec == std::errc::result_out_of_range || v > static_cast<unsigned long long>(INT_MAX))
    throw UsageError(fmt::format("invalid PID {}: beyond the largest process ID there can be ({})", shown(text), INT_MAX));
  if (v == 0) throw UsageError(fmt::format("invalid PID {}: process IDs start at 1", shown(text)));
  n.pid = static_cast<pid_t>(v);
  if (pid.size() < text.size()) {
    auto [q, ec2] = std::from_chars(inode.data(), inode.data() + inode.size(), n.inode);
    if (!all_digits(inode) || ec2 != std::errc() || q != inode.data() + inode.size() || n.inode == 0)
      throw UsageError(fmt::format("invalid PID:INODE {}: the inode must be a decimal number from 1", shown(text)));
  }
  return n;
}

void PidfileParser::flush(const Add& add) {
  if (token_.empty()) return;
  Named n;
  try {
    n = parse_named(token_);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("pidfile {}, line {}: {}", shown(name_), token_line_, e.what()));
  }
  token_.clear();
  add(n);
}

void PidfileParser::feed(std::string_view chunk, const Add& add) {
  size_ += chunk.size();
  if (size_ > kMaxSize)
    throw UsageError(fmt::format("pidfile {}: larger than {} MiB, not a list of PIDs", shown(name_), kMaxSize >> 20));
  for (char c : chunk) {
    if (c == '\0') throw UsageError(fmt::format("pidfile {}: binary data, not a list of PIDs", shown(name_)));
    if (c == '\n') {
      flush(add);
      comment_ = false;
      ++line_;
    } else if (comment_) {
    } else if (c == '#') {
      flush(add);
      comment_ = true;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == ',') {
      flush(add);
    } else {
      if (token_.empty()) token_line_ = line_;
      // A token longer than any target can be is refused now, not held.
      if (token_.size() > 64) {
        token_ += c;
        flush(add);
      }
      token_ += c;
    }
  }
}

void PidfileParser::finish(const Add& add) { flush(add); }

bool read_pidfile(EventLoop& loop, const std::string& path, const PidfileParser::Add& add, bool require_lock) {
  Fd owned;
  int fd = 0;
  if (path != "-") {
    // Non-blocking: a FIFO without a writer opens at once, and its data is
    // waited for in the loop (no readiness comes until a writer does).
    owned = Fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!owned) throw UsageError(fmt::format("pidfile {}: {}", shown(path), strerror(errno)));
    struct stat st {};
    if (fstat(owned.get(), &st) == 0 && S_ISDIR(st.st_mode))
      throw UsageError(fmt::format("pidfile {}: {}", shown(path), strerror(EISDIR)));
    fd = owned.get();
  }
  if (require_lock && !locked(fd))
    throw WatchError(fmt::format("pidfile {} is not locked by its daemon (--logpidfile): the PID in it may "
                                 "belong to another process by now", shown(path)));
  PidfileParser parser(path);
  Reader reader(fd, parser, add, path);
  try {
    loop.add(fd, EPOLLIN, reader, 0);
  } catch (const std::system_error& e) {
    // What epoll cannot watch (a regular file, /dev/zero) never blocks: read it at once.
    if (e.code().value() != EPERM) throw;
    while (!reader.done()) reader.read_once();
    parser.finish(add);
    return true;
  }
  while (!reader.done() && !loop.stopped()) loop.run_once();
  loop.remove(fd);
  if (!reader.done()) return false;
  parser.finish(add);
  return true;
}

}  // namespace pwait
