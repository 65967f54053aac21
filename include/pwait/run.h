#pragma once
// The policy above the backends, in one place: pick a backend, watch, count
// per-target state against all/any/count, the timeout, output and exit code.

#include "pwait/event_loop.h"
#include "pwait/options.h"

namespace pwait {

/// Waits as `options` say and returns pwait's exit code. `started` is when
/// pwait started (elapsed times and the deadline count from it). Throws
/// UsageError, WatchError or std::system_error, which main maps to the
/// exit-code table. Every target is left as it was found, however it ends.
int run(const Options& options, Clock::time_point started);

/// Prints the backend table for --list-backends.
void list_backends();

}  // namespace pwait
