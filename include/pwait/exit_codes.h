#pragma once
// pwait's exit codes: one table, mirrored in man/pwait.1 (EXIT STATUS).

namespace pwait::exit_code {

inline constexpr int ok = 0;              ///< the condition was met
inline constexpr int missing = 1;         ///< a PID did not exist (without --exited)
inline constexpr int usage = 2;           ///< bad option, PID, duration or pidfile
inline constexpr int unwatchable = 3;     ///< no usable backend, permission, fd limit, system error
inline constexpr int timeout = 124;       ///< --timeout passed first
inline constexpr int killed = 137;        ///< --timeout passed, and SIGKILL had to be sent (as timeout(1))
inline constexpr int status_unknown = 125;  ///< --exit-status: a target's status could not be known
inline constexpr int signal_base = 128;   ///< 128+N: pwait was stopped by signal N (also -x: target killed by N)

}  // namespace pwait::exit_code
