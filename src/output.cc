#include "pwait/output.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/exit_codes.h"

namespace pwait {

// One of stdout and stderr. It is shared with whoever started pwait, so it
// is never made non-blocking; instead a write happens only once poll() says
// the file can take it, and writes at most PIPE_BUF bytes, which a pipe with
// room takes whole without blocking. A file epoll cannot watch (a regular
// file, /dev/null, /dev/full) never blocks for long and is written at once.
class StdOutput::Stream final : public EventLoop::Source {
 public:
  explicit Stream(int fd) : fd_(fd) {}

  void add(std::string_view line) {
    if (error_) return;
    pending_.append(line);
    pending_ += '\n';
    flush();
  }
  /// Bytes as they are, without a newline (a status line's redraw).
  void add_raw(std::string_view bytes) {
    if (error_) return;
    pending_.append(bytes);
    flush();
  }

  void attach(EventLoop& loop) {
    loop_ = &loop;
    pollable_ = loop.add_if_pollable(fd_, 0, *this, 0);
  }

  void detach() {
    if (loop_ && pollable_) loop_->remove(fd_);
    loop_ = nullptr;
    pollable_ = false;
  }

  bool empty() const { return pending_.empty(); }
  int error() const { return error_; }
  void fail(int err) {
    error_ = err;
    pending_.clear();
  }

  void ready(std::uint32_t, std::uint32_t) override { flush(); }

 private:
  // Writes what the file takes now; arms EPOLLOUT for the rest.
  void flush() {
    while (!pending_.empty()) {
      if (pollable_ && !writable()) {
        arm(true);
        return;
      }
      std::size_t chunk = pollable_ ? std::min<std::size_t>(pending_.size(), PIPE_BUF) : pending_.size();
      ssize_t n = write(fd_, pending_.data(), chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) continue;  // the poll said yes, another writer took the room
      if (n < 0) return fail(errno);
      pending_.erase(0, static_cast<std::size_t>(n));
    }
    arm(false);
  }

  bool writable() const {
    pollfd p{fd_, POLLOUT, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLOUT | POLLERR | POLLHUP));
  }

  void arm(bool want) {
    if (!pollable_ || want == armed_) return;
    loop_->modify(fd_, want ? std::uint32_t{EPOLLOUT} : 0u, *this, 0);
    armed_ = want;
  }

  int fd_;
  std::string pending_;
  EventLoop* loop_ = nullptr;
  bool pollable_ = false;  // in the loop: writes wait for room
  bool armed_ = false;     // waiting for EPOLLOUT
  int error_ = 0;
};

StdOutput::StdOutput() : out_(new Stream(1)), err_(new Stream(2)) {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    // open() takes the lowest free fd: this one.
    int null = open("/dev/null", O_RDWR);
    if (null != fd && null >= 0) close(null);
    if (fd == 1) out_->fail(EBADF);
  }
}

StdOutput::~StdOutput() {
  delete out_;
  delete err_;
}

namespace {
constexpr std::string_view kClearLine = "\r\033[K";  // to the line's start, erase to its end
}  // namespace

void StdOutput::out(std::string_view line) {
  if (status_.empty()) return out_->add(line);
  err_->add_raw(kClearLine);
  out_->add(line);
  err_->add_raw(fmt::format("\r{}\033[K", status_));
}

void StdOutput::err(std::string_view line) {
  if (status_.empty()) return err_->add(line);
  err_->add_raw(kClearLine);
  err_->add(line);
  err_->add_raw(fmt::format("\r{}\033[K", status_));
}

void StdOutput::status(std::string_view line) {
  if (line == status_) return;
  status_ = line;
  err_->add_raw(line.empty() ? std::string(kClearLine) : fmt::format("\r{}\033[K", line));
}

void StdOutput::attach(EventLoop& loop) {
  loop_ = &loop;
  out_->attach(loop);
  err_->attach(loop);
}

void StdOutput::drain() {
  if (!loop_) return;
  bool had_status = !status_.empty();
  if (had_status) status("");
  // The deadline has done its part: from now on only a stop signal ends the wait for the reader.
  loop_->set_deadline(std::nullopt);
  while ((!out_->empty() || !err_->empty()) && !loop_->stopped()) loop_->run_once();
  // Stopped with the clearing still queued: the terminal gets it anyway
  // (a few bytes, which a terminal takes at once).
  if (had_status && !err_->empty()) (void)!write(STDERR_FILENO, kClearLine.data(), kClearLine.size());
  out_->detach();
  err_->detach();
  loop_ = nullptr;
}

int StdOutput::stdout_error() const { return out_->error(); }

std::string failure_message(const std::exception& e) {
  if (auto* usage = dynamic_cast<const UsageError*>(&e)) return fmt::format("pwait: {} ({})", e.what(), usage->hint);
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "pwait: out of memory";
  return fmt::format("pwait: {}", e.what());
}

int failure_exit_code(const std::exception& e) {
  return dynamic_cast<const UsageError*>(&e) ? exit_code::usage : exit_code::unwatchable;
}

}  // namespace pwait
