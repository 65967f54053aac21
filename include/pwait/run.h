#pragma once
// The driver: pin the targets, choose a backend, run the one loop and count
// what it reports against the condition (the policy, in policy.h), report.

#include <span>

#include "pwait/backend.h"
#include "pwait/event_loop.h"
#include "pwait/options.h"
#include "pwait/output.h"
#include "pwait/report.h"
#include "pwait/targets.h"

namespace pwait {

/// Waits as `options` say and returns pwait's exit code; says what happened
/// through `output`. Throws UsageError, WatchError or std::system_error,
/// which main maps to the exit-code table. Every target is left as it was
/// found, however it ends.
int run(const Options& options, Clock::time_point started, StdOutput& output);

/// run() once output is attached to `loop`: reads the pidfiles, pins, waits.
int gather_and_wait(const Options& options, EventLoop& loop, Output& output);

/// The policy's part of run(), over targets already pinned: starts the first
/// backend of `table` that `options` allow and that starts, counts its
/// events until the condition is met, the deadline passes or a stop signal
/// comes, reports through `reporter` and returns the exit code. Policy tests
/// pass a table with a fake backend.
int wait_for(const Options& options, Targets& targets, std::span<const Backend> table, EventLoop& loop,
             Reporter& reporter);

/// Prints the backend table for --list-backends: whether each can serve
/// here, and, with PIDs among the options, serve those targets.
void list_backends(const Options& options, Output& output);

}  // namespace pwait
