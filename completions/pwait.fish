# fish completion for pwait(1)

# The names --backend accepts (src/backends.cc, and auto).
function __pwait_backends
    printf '%s\t%s\n' \
        auto 'the first backend that can serve the request (default)' \
        pidfd 'pidfd_open + epoll: no privilege, immune to PID reuse' \
        netlink 'proc connector: one socket for any number of targets' \
        ptrace 'PTRACE_SEIZE: exit status before any reap' \
        poll 'kill(2) + /proc polling: the last resort'
end

# Signal names without SIG, with their numbers, as kill -L lists them: for an
# option that takes a signal, with -x -a '(__pwait_signals)'.
function __pwait_signals
    __fish_make_completion_signals
    for sig in $__kill_signals
        set -l number_name (string split -m1 ' ' -- $sig)
        printf '%s\t%s\n' $number_name[2] $number_name[1]
    end
end

# Operands are PIDs, shown with their process names; no file names.
complete -c pwait -f -a '(__fish_complete_pids)'

# The options of `pwait --help`, one line each. -x: takes a value, offered by
# -a; -r -F: takes a file name.
# tests/completion_test.cc fails when --help lists an option missing here.
complete -c pwait -s F -l pidfile -r -F -d 'Read more PIDs from FILE (- is stdin); repeatable'
complete -c pwait -s L -l logpidfile -d 'Refuse a pidfile that its daemon does not hold locked'
complete -c pwait -s m -l match -x -d 'The process name matches this extended regular expression'
complete -c pwait -l full -d 'Match PATTERN against the whole command line'
complete -c pwait -l exact -d 'PATTERN matches all of the name or line'
complete -c pwait -l ignore-case -d 'Match PATTERN ignoring case'
complete -c pwait -l euid -x -a '(__fish_complete_users)' -d 'Effective user, names or numbers, comma-separated'
complete -c pwait -l uid -x -a '(__fish_complete_users)' -d 'Real user'
complete -c pwait -l group -x -a '(__fish_complete_groups)' -d 'Real group'
complete -c pwait -l parent -x -a '(__fish_complete_pids)' -d 'Parent process'
complete -c pwait -l pgroup -x -d "Process group; 0 is pwait's own"
complete -c pwait -l session -x -d "Session; 0 is pwait's own"
complete -c pwait -l terminal -x -d 'Controlling terminal: pts/3, tty1'
complete -c pwait -l newest -d 'Only the most recently started of those'
complete -c pwait -l oldest -d 'Only the first started of those'
complete -c pwait -l older -x -d 'Started at least DURATION ago'
complete -c pwait -l cgroup -x -d 'A cgroup v2: ended when no process is left in it or below it'
complete -c pwait -l cgroup-of -x -a '(__fish_complete_pids)' -d 'The cgroup that process PID is in'
complete -c pwait -l tree -d 'A PID target ends with the last process it started'
complete -c pwait -s s -l signal -x -a '(__pwait_signals)' -d 'Send SIG to what is left when giving up'
complete -c pwait -s k -l kill-after -x -d 'Then SIGKILL what is left DURATION later'
complete -c pwait -l fail-fast -d 'Return as soon as a target fails (implies -x)'
complete -c pwait -s p -l print-remaining -d 'Print the PIDs still waited for when giving up'
complete -c pwait -l progress -d 'A live status line on stderr, on a terminal only'
complete -c pwait -s o -l any -d 'Return when the first target has ended'
complete -c pwait -s c -l count -x -d 'Return when N targets have ended'
complete -c pwait -s r -l reaped -d 'A target ends when it is reaped (gone), not when it exits'
complete -c pwait -s e -l exited -d 'A PID that does not exist counts as already ended'
complete -c pwait -s t -l timeout -x -d 'Give up after DURATION: 10, 1.5s, 250ms, 2m, 1h'
complete -c pwait -s b -l backend -x -a '(__pwait_backends)' -d 'Use this backend instead of the first usable one'
complete -c pwait -l list-backends -d 'Print every backend, usable here or not, with the reason'
complete -c pwait -l interval -x -d 'Poll backend interval (DURATION)'
complete -c pwait -s v -l verbose -d 'One line per event on stdout'
complete -c pwait -s j -l json -d 'One JSON object per event on stdout (JSON Lines)'
complete -c pwait -s x -l exit-status -d 'Exit with the first failure among the targets'
complete -c pwait -l print-handles -d 'Print each target as PID:INODE, one a line, and exit'
complete -c pwait -s h -l help -d 'Print the help and exit'
complete -c pwait -s V -l version -d 'Print the version and exit'
