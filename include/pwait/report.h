#pragma once
// Turning events into text: the verbose lines and the JSON Lines schema
// (documented in man/pwait.1). Formatting only; the policy decides what to say.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "pwait/event.h"
#include "pwait/event_loop.h"

namespace pwait {

/// "killed by signal 9 (SIGKILL)" / "exited with status 3" for a wait status.
std::string describe_status(int status);

/// One verbose line, without newline: "1234: exited with status 0", ...
std::string verbose_line(const Event& event, pid_t pid);

/// One JSON object, without newline. `kind` is exited/reaped/missing/timeout.
std::string json_line(std::string_view kind, pid_t pid, const std::optional<int>& status,
                      bool zombie, pid_t parent, std::string_view backend, Duration elapsed);

/// The -x exit code a status stands for: its exit code, 128+N for signal N,
/// exit_code::status_unknown when unknown.
int status_exit_code(const std::optional<int>& status);

}  // namespace pwait
