#include "pwait/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace pwait {
namespace {

constexpr auto kRedraw = std::chrono::seconds(1);

int terminal_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

bool in_foreground() { return tcgetpgrp(STDERR_FILENO) == getpgrp(); }

}  // namespace

bool Progress::possible() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && term && *term && std::strcmp(term, "dumb") != 0 && in_foreground();
}

Progress::Progress(EventLoop& loop, Output& output, std::function<std::string()> describe)
    : loop_(loop), output_(output), describe_(std::move(describe)), width_(terminal_width()) {
  loop_.watch_signal(SIGWINCH, *this);
  update();
  loop_.set_timer(*this, Clock::now() + kRedraw);
}

Progress::~Progress() {
  loop_.forget(*this);
  output_.status("");
}

void Progress::update() {
  // In the background (bg, or the shell moved on), the terminal is another
  // job's: no line there until pwait is in the foreground again.
  if (!in_foreground()) return output_.status("");
  std::string line = describe_();
  // One column short of the width: a line that fills it would wrap on some terminals.
  std::size_t room = width_ > 1 ? static_cast<std::size_t>(width_ - 1) : 1;
  if (line.size() > room) line.resize(room);
  output_.status(line);
}

void Progress::expired() {
  update();
  loop_.set_timer(*this, Clock::now() + kRedraw);
}

void Progress::signalled(const signalfd_siginfo&) {
  width_ = terminal_width();
  update();
}

}  // namespace pwait
