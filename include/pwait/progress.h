#pragma once
// --progress: one status line on a terminal, redrawn in place while pwait
// waits ("waiting for 3 of 5, 2m10s: 1234 make, 5678 cc1plus"), as ninja's
// smart terminal does. Only where stderr is a terminal, TERM is not dumb and
// pwait is in the terminal's foreground process group; never a byte of it
// on a pipe or a file. Cut to the terminal's width (read again on SIGWINCH).

#include <functional>
#include <string>

#include "pwait/event_loop.h"
#include "pwait/report.h"

namespace pwait {

class Progress final : public EventLoop::Source {
 public:
  /// Whether a status line may be shown on stderr now.
  static bool possible();

  /// `describe` says what the line shows now (it is cut to the width here).
  Progress(EventLoop& loop, Output& output, std::function<std::string()> describe);
  ~Progress();  // clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Draws the line again now (after an event).
  void update();

  void expired() override;
  void signalled(const signalfd_siginfo& info) override;

 private:
  EventLoop& loop_;
  Output& output_;
  std::function<std::string()> describe_;
  int width_ = 80;
};

}  // namespace pwait
