# bash completion for pwait(1)                              -*- shell-script -*-
# Installed as bash-completion/completions/pwait, where bash-completion loads
# it on demand. Self-contained: it needs none of bash-completion's helpers.

# The options of `pwait --help`, one line each: short|long|value|description.
# The value is what the option takes: empty for a flag, else one of the kinds
# _pwait_values knows (file, backend, signal, user, group, pid, text).
# tests/completion_test.cc fails when --help lists an option missing here.
_pwait_options=(
    '-F|--pidfile|file|read more PIDs from FILE (- is stdin); repeatable'
    '-L|--logpidfile||refuse a pidfile that its daemon does not hold locked'
    '-m|--match|text|the process name matches this extended regular expression'
    '|--full||match PATTERN against the whole command line'
    '|--exact||PATTERN matches all of the name or line'
    '|--ignore-case||match PATTERN ignoring case'
    '|--euid|user|effective user, names or numbers, comma-separated'
    '|--uid|user|real user'
    '|--group|group|real group'
    '|--parent|pid|parent process'
    '|--pgroup|text|process group; 0 is pwait'"'"'s own'
    '|--session|text|session; 0 is pwait'"'"'s own'
    '|--terminal|text|controlling terminal: pts/3, tty1'
    '|--newest||only the most recently started of those'
    '|--oldest||only the first started of those'
    '|--older|text|started at least DURATION ago'
    '|--cgroup|text|a cgroup v2: ended when no process is left in it or below it'
    '|--cgroup-of|pid|the cgroup that process PID is in'
    '|--tree||a PID target ends with the last process it started'
    '-s|--signal|signal|send SIG to what is left when giving up'
    '-k|--kill-after|text|then SIGKILL what is left DURATION later'
    '|--fail-fast||return as soon as a target fails (implies -x)'
    '-p|--print-remaining||print the PIDs still waited for when giving up'
    '|--progress||a live status line on stderr, on a terminal only'
    '-o|--any||return when the first target has ended'
    '-c|--count|text|return when N targets have ended'
    '-r|--reaped||a target ends when it is reaped (gone), not when it exits'
    '-e|--exited||a PID that does not exist counts as already ended'
    '-t|--timeout|text|give up after DURATION: 10, 1.5s, 250ms, 2m, 1h'
    '-b|--backend|backend|use this backend instead of the first usable one'
    '|--list-backends||print every backend, usable here or not, with the reason'
    '|--interval|text|poll backend interval (DURATION)'
    '-v|--verbose||one line per event on stdout'
    '-j|--json||one JSON object per event on stdout (JSON Lines)'
    '-x|--exit-status||exit with the first failure among the targets'
    '|--print-handles||print each target as PID:INODE, one a line, and exit'
    '-h|--help||print the help and exit'
    '-V|--version||print the version and exit'
)

# The names -b accepts (src/backends.cc, and auto): name|description.
_pwait_backends=(
    'auto|the first backend that can serve the request (default)'
    'pidfd|pidfd_open + epoll: no privilege, immune to PID reuse'
    'netlink|proc connector: one socket for any number of targets'
    'ptrace|PTRACE_SEIZE: exit status before any reap'
    'poll|kill(2) + /proc polling: the last resort'
)

# Adds a candidate and its description (may be empty) if it starts with $cur.
_pwait_add()
{
    [[ $1 == "$cur"* ]] || return 0
    _pwait_words+=("$1")
    _pwait_descs+=("${2-}")
}

# Sets _pwait_kind to the kind of value the option token $1 takes from the
# next word: "--name", or a cluster "-rb" whose last letter takes one.
_pwait_takes()
{
    local word=$1 line s l k d i
    _pwait_kind=
    if [[ $word == --?* ]]; then
        [[ $word == *=* ]] && return
        for line in "${_pwait_options[@]}"; do
            IFS='|' read -r s l k d <<<"$line"
            [[ $l == "$word" ]] && _pwait_kind=$k && return
        done
    elif [[ $word == -[!-]* ]]; then
        for ((i = 1; i < ${#word}; i++)); do
            k=-
            for line in "${_pwait_options[@]}"; do
                IFS='|' read -r s l k d <<<"$line"
                [[ $s == "-${word:i:1}" ]] && break
                k=-
            done
            [[ $k == - ]] && return # not an option: CLI11 reports it
            # A value attached in the same word ("-t5") leaves none to take.
            [[ $k ]] && { ((i + 1 == ${#word})) && _pwait_kind=$k; return; }
        done
    fi
}

# Signal names without SIG, as kill -l lists them, with their numbers: for an
# option that takes a signal.
_pwait_signals()
{
    local sig
    for sig in $(compgen -A signal); do
        [[ $sig == SIG* ]] || continue # EXIT, DEBUG...: traps, not signals
        _pwait_add "${sig#SIG}" "$(kill -l "$sig" 2>/dev/null)"
    done
}

# Every process, numerically, with its name (not only this user's or this
# terminal's: pwait waits for any process).
_pwait_pids()
{
    local glob=/proc/[1-9] digits dir name
    [[ $cur == *[!0-9]* ]] && return
    # A glob sorts within one length: shorter PIDs first gives numeric order,
    # up to 7 digits (pid_max is at most 2^22).
    for ((digits = 1; digits <= 7; digits++)); do
        for dir in $glob; do
            [[ ${dir#/proc/} == "$cur"* ]] || continue
            name=
            { read -r name <"$dir/comm"; } 2>/dev/null || continue
            _pwait_add "${dir#/proc/}" "$name"
        done
        glob+='[0-9]'
    done
}

# Adds the candidates for a value of kind $1.
_pwait_values()
{
    local line
    case $1 in
        file)
            compopt -o filenames +o nosort 2>/dev/null
            mapfile -t -O "${#_pwait_words[@]}" _pwait_words < <(compgen -f -- "$cur")
            ;;
        backend)
            for line in "${_pwait_backends[@]}"; do
                _pwait_add "${line%%|*}" "${line#*|}"
            done
            ;;
        signal) _pwait_signals ;;
        user)
            # A comma-separated list: complete its last element.
            local head=${cur%,*} last=${cur##*,} name
            [[ $cur == *,* ]] && head+=, || head=
            for name in $(compgen -u -- "$last"); do _pwait_add "$head$name"; done
            ;;
        group)
            local head=${cur%,*} last=${cur##*,} name
            [[ $cur == *,* ]] && head+=, || head=
            for name in $(compgen -g -- "$last"); do _pwait_add "$head$name"; done
            ;;
        pid) _pwait_pids ;;
    esac
    return 0
}

# COMPREPLY from the candidates. Several are listed one a line with their
# descriptions, "--any  (return when ...)"; one alone is inserted bare. The
# words never hold a space, so the common prefix readline inserts never
# reaches into a description.
_pwait_reply()
{
    local prefix=$1 width=0 i word line cols=${COLUMNS:-80}
    COMPREPLY=("${_pwait_words[@]/#/$prefix}")
    # menu-complete (37) and insert-completions (42) insert every entry
    ((${#COMPREPLY[@]} > 1)) || return 0
    [[ ${COMP_TYPE-} == 37 || ${COMP_TYPE-} == 42 ]] && return 0
    [[ ${_pwait_descs[*]} == *[![:space:]]* ]] || return 0
    for word in "${COMPREPLY[@]}"; do
        ((${#word} > width)) && width=${#word}
    done
    for i in "${!COMPREPLY[@]}"; do
        [[ ${_pwait_descs[i]} ]] || continue
        printf -v line '%-*s  (%s)' "$width" "${COMPREPLY[i]}" "${_pwait_descs[i]}"
        ((${#line} >= cols && cols > width + 8)) && line="${line:0:cols-5}...)"
        COMPREPLY[i]=$line
    done
}

_pwait()
{
    local -a words=() _pwait_words=() _pwait_descs=()
    local i word cur prefix= _pwait_kind= expect= dashdash=
    # With '=' in COMP_WORDBREAKS (the default) bash splits "--backend=po"
    # into three words: join them back.
    for ((i = 0; i <= COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((i > 1)) && [[ $word == = && ${words[-1]} == --?* || ${words[-1]-} == --?*= ]]; then
            words[-1]+=$word
        else
            words+=("$word")
        fi
    done
    cur=${words[-1]}
    for ((i = 1; i < ${#words[@]} - 1; i++)); do
        word=${words[i]}
        if [[ $expect ]]; then
            expect=
        elif [[ $word == -- ]]; then
            dashdash=1
            break
        else
            _pwait_takes "$word"
            expect=$_pwait_kind
        fi
    done
    # Options in the order of --help, PIDs numerically: as the lists are made.
    compopt -o nosort 2>/dev/null
    if [[ $expect ]]; then
        _pwait_values "$expect"
    elif [[ ! $dashdash && $cur == --?*=* ]]; then
        _pwait_takes "${cur%%=*}"
        # bash replaces only the part after '=' when '=' breaks words
        [[ $COMP_WORDBREAKS == *=* ]] || prefix=${cur%%=*}=
        cur=${cur#*=}
        [[ $_pwait_kind ]] && _pwait_values "$_pwait_kind"
    elif [[ ! $dashdash && $cur == -* ]]; then
        local line s l k d
        for line in "${_pwait_options[@]}"; do
            IFS='|' read -r s l k d <<<"$line"
            [[ $s ]] && _pwait_add "$s" "$d"
            _pwait_add "$l" "$d"
        done
    else
        _pwait_pids
    fi
    _pwait_reply "$prefix"
} &&
    complete -F _pwait pwait
