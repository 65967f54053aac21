#pragma once
// What pwait keeps mapped while it sleeps.

namespace pwait {

/// Drops this program's read-only pages (code, constants) from its page
/// tables; they stay in the page cache, and the few that waking up and
/// exiting use are faulted back in. Called once set-up is over and pwait is
/// about to sleep: the kernel unmaps every mapped page when a process exits,
/// which costs tens of microseconds per MiB (bench/RESULTS.md: wake-up
/// latency), and this moves that work off the path from the target's end
/// to pwait's. Pages that are no longer the file's (a debugger's breakpoint,
/// a uprobe) are kept. Best effort: never fails.
void shed_startup_pages();

}  // namespace pwait
