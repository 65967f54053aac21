#include "pwait/options.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/fd.h"
#include "pwait/proc.h"
#include "pwait/report.h"
#include "pwait/select.h"

namespace pwait {
namespace {

constexpr const char* kHelp = R"(Usage: pwait [options] PID...
       pwait [options] -F FILE [PID...]
       pwait [options] -m PATTERN | --euid USERS | ... [PID...]
       pwait --list-backends [PID...]
Wait for processes to end (any process, not only children) and say how they ended.

Targets (any number of each; a process named twice counts once):
  PID                     a process ID, /proc/PID, or PID:INODE (util-linux's handle:
                          only that process will do); one that names no process is missing
  -F, --pidfile FILE      read more PIDs from FILE ('-' is stdin), as they come: separated
                          by white space or commas, '#' starts a comment; repeatable
  -L, --logpidfile        refuse a pidfile that its daemon does not hold locked (pidwait -L)
Selecting, as pgrep (all that are given must hold; never pwait or its ancestors):
  -m, --match PATTERN     the process name matches this extended regular expression
      --full              match PATTERN against the whole command line (pgrep -f)
      --exact             PATTERN matches all of the name or line (pgrep -x)
      --ignore-case       match PATTERN ignoring case (pgrep -i)
      --euid USERS        effective user, names or numbers, comma-separated (pgrep -u)
      --uid USERS         real user (pgrep -U)
      --group GROUPS      real group (pgrep -G)
      --parent PIDS       parent process (pgrep -P)
      --pgroup PGIDS      process group; 0 is pwait's own (pgrep -g)
      --session SIDS      session; 0 is pwait's own (pgrep -s)
      --terminal TTYS     controlling terminal: pts/3, tty1 (pgrep -t)
      --newest            only the most recently started of those (pgrep -n)
      --oldest            only the first started of those (pgrep -o)
      --older DURATION    started at least DURATION ago (pgrep -O)
Whole jobs:
      --cgroup CGROUP     a cgroup v2 (/system.slice/x.service, or its directory): it has
                          ended when no process is left in it or below it; repeatable
      --cgroup-of PID     the cgroup that process PID is in (a service, a container)
      --tree              a PID target has ended once it and every process it started
                          (and they started, reparented or not) have ended
Waiting:
  -o, --any               return when the first target has ended
  -c, --count N           return when N targets have ended (1 <= N <= number of targets)
  -r, --reaped            a target ends when it is reaped (gone), not when it exits (zombie)
  -e, --exited            a PID that names no process counts as ended, and so does
                          nothing to wait for (default: an error, exit 1)
  -t, --timeout DURATION  give up after DURATION (from pwait's start, reading pidfiles
                          included): 10, 1.5, 250ms, 2m, 1h, 1d; 0 means never; at most 10^8 s
  -b, --backend NAME      auto, pidfd, netlink, ptrace, poll; default from PWAIT_BACKEND, else auto
      --list-backends     print every backend, usable here or not, and why; with PIDs, whether
                          it can serve those; exit 0
      --interval DURATION with --backend poll: its interval (default: adaptive, 5ms up to 40ms)
Giving up (at the timeout, or with --fail-fast):
  -s, --signal SIG        send SIG (TERM, 15) to what is left, through its pinned handle: never
                          a reused PID; with --tree its descendants, a cgroup's processes
  -k, --kill-after DURATION
                          then SIGKILL what is left DURATION later (exit 137 on a timeout)
      --fail-fast         return as soon as a target fails (implies -x)
  -p, --print-remaining   print the PIDs still waited for on stdout, ascending, when giving up
                          or stopped by a signal (FreeBSD pwait -p)
Saying:
  -v, --verbose           one line per event on stdout (and per process selected)
  -j, --json              one JSON object per event on stdout (JSON Lines)
  -x, --exit-status       exit with the first failure among the targets
      --print-handles     print each target as PID:INODE, one a line, and exit
      --progress          a live status line on stderr, only when it is a terminal
  -h, --help              print this help and exit
  -V, --version           print the version and exit

Exit status: 0 condition met; 1 a PID named no process, or nothing to wait for (both
without -e); 2 usage error; 3 a target cannot be watched; 124 timeout; 137 timeout,
and SIGKILL was sent; 125 (-x) a target's status is unknown; 128+N pwait stopped by
signal N. With -x: the first failed target's exit code, or 128+N if signal N killed
it. SIGUSR1 prints what is left on stderr. See pwait(1).

Examples:
  pwait 1234 && next-step         run next-step once process 1234 has ended
  pwait -x -t 10m -F jobs.pid     CI: fail if a job failed, give up after ten minutes
  pwait -o -v 1234 5678           wait for the first of two, and say how it ended
)";

// Whether CLI11 takes `arg` for an option: "--" or "-" then a name's first
// character; "-5" is a value (a bad PID) unless an option -5 exists.
bool is_option(const CLI::App& app, std::string_view arg) {
  auto name_start = [](char c) { return c != '-' && c != '!' && c != ' ' && c != '\n'; };
  if (arg.size() > 2 && arg.starts_with("--")) return name_start(arg[2]);
  if (arg.size() < 2 || arg[0] != '-' || !name_start(arg[1])) return false;
  bool digit = arg[1] >= '0' && arg[1] <= '9';
  return !digit || app.get_option_no_throw(std::string(arg.substr(0, 2)));
}

// Whether the option token `arg` (it starts with '-') is followed by its
// value in the next argument, by CLI11's rules: `--name value` but not
// `--name=value`; a cluster `-rt 5` when its last letter takes a value, but
// not `-t5`. Unknown options take none (CLI11 reports them).
bool value_follows(const CLI::App& app, std::string_view arg) {
  auto takes_value = [](const CLI::Option* opt) { return opt->get_items_expected_min() > 0; };
  if (arg.starts_with("--")) {
    const CLI::Option* opt = app.get_option_no_throw(std::string(arg));
    return opt && arg.find('=') == std::string_view::npos && takes_value(opt);
  }
  for (std::size_t j = 1; j < arg.size(); ++j) {
    const CLI::Option* opt = app.get_option_no_throw(std::string{'-', arg[j]});
    if (!opt) return false;
    if (takes_value(opt)) return j + 1 == arg.size();
  }
  return false;
}

// Checks option token `arg` (it starts with '-') before CLI11 sees it, so
// that no parser-library wording reaches the user: an unknown option, a flag
// given a value, a value option at the end without its value.
void check_option(const CLI::App& app, std::string_view arg, bool value_next) {
  auto takes_value = [](const CLI::Option* opt) { return opt->get_items_expected_min() > 0; };
  if (arg.starts_with("--")) {
    std::string_view name = arg.substr(0, arg.find('='));
    const CLI::Option* opt = app.get_option_no_throw(std::string(name));
    if (!opt) throw UsageError(fmt::format("unknown option {}", shown(name)));
    bool has_value = name.size() < arg.size();
    if (!takes_value(opt) && has_value) throw UsageError(fmt::format("option {} takes no value", name));
    if (takes_value(opt) && !has_value && !value_next) throw UsageError(fmt::format("option {} needs a value", name));
    return;
  }
  for (std::size_t j = 1; j < arg.size(); ++j) {
    std::string letter{'-', arg[j]};
    const CLI::Option* opt = app.get_option_no_throw(letter);
    if (!opt) throw UsageError(fmt::format("unknown option {}", shown(letter)));
    if (!takes_value(opt)) continue;
    if (j + 1 == arg.size() && !value_next) throw UsageError(fmt::format("option {} needs a value", letter));
    return;  // the rest of the cluster is its value
  }
}

}  // namespace

Duration parse_duration(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return UsageError(fmt::format("invalid {} {}: {}", what, shown(text), why));
  };
  std::size_t n = 0;
  while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
  std::string_view number = text.substr(0, n), unit = text.substr(n);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1)
    throw bad("expected a number with an optional unit ms, s, m, h or d (e.g. 1.5s)");
  double scale;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "m") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  else throw bad("unknown unit (use ms, s, m, h or d)");
  double value = 0;
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || p != number.data() + number.size()) throw bad("not a number");
  double seconds = value * scale;
  if (!std::isfinite(seconds) || seconds > kMaxTimeoutSeconds)
    throw bad(fmt::format("longer than {:.0f}s (about 3 years), the most pwait waits", kMaxTimeoutSeconds));
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

int parse_signal(std::string_view text, std::string_view what) {
  std::string up;
  for (char ch : text) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string_view name = up;
  int sig = 0;
  if (auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), sig);
      ec == std::errc() && p == name.data() + name.size()) {
    if (sig >= 1 && sig < NSIG) return sig;
  } else {
    if (name.starts_with("SIG")) name.remove_prefix(3);
    for (int s = 1; s < SIGRTMIN; ++s)
      if (const char* abbrev = sigabbrev_np(s); abbrev && name == abbrev) return s;
    if (name == "POLL") return SIGIO;
    if (name == "IOT") return SIGABRT;
    for (auto [base, step, prefix] : {std::tuple{SIGRTMIN, 1, "RTMIN"}, std::tuple{SIGRTMAX, -1, "RTMAX"}}) {
      if (!name.starts_with(prefix)) continue;
      std::string_view rest = name.substr(5);
      int n = 0;
      if (rest.empty()) return base;
      auto [p, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), n);
      if (rest[0] == (step > 0 ? '+' : '-') && ec == std::errc() && p == rest.data() + rest.size() &&
          n <= SIGRTMAX - SIGRTMIN)
        return base + step * n;
    }
  }
  throw UsageError(fmt::format("invalid signal {} for {}: a name or number as kill -l lists them (TERM, 15)",
                               shown(text), what));
}

ParseResult parse_options(int argc, const char* const* argv, std::string_view default_backend) {
  ParseResult result;
  Options o;
  std::string count, timeout, interval, backend;
  bool any = false, help = false, version = false;

  CLI::App app{"pwait"};
  app.set_help_flag();  // our own help text, kept in step with man/pwait.1
  // An option given twice: the last one counts, as with most tools.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("-h,--help", help);
  app.add_flag("-V,--version", version);
  app.add_option("-F,--pidfile", o.pidfiles)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("-o,--any", any);
  auto* count_opt = app.add_option("-c,--count", count);
  app.add_flag("-r,--reaped", o.reaped);
  app.add_flag("-e,--exited", o.exited_ok);
  auto* timeout_opt = app.add_option("-t,--timeout", timeout);
  auto* backend_opt = app.add_option("-b,--backend", backend);
  app.add_flag("--list-backends", o.list_backends);
  auto* interval_opt = app.add_option("--interval", interval);
  app.add_flag("-v,--verbose", o.verbose);
  app.add_flag("-j,--json", o.json);
  app.add_flag("-x,--exit-status", o.exit_status);
  app.add_flag("-L,--logpidfile", o.lock_pidfiles);
  app.add_flag("--print-handles", o.print_handles);
  app.add_option("--cgroup", o.cgroups)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  std::vector<std::string> cgroup_of;
  app.add_option("--cgroup-of", cgroup_of)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--tree", o.tree);
  std::string signal, kill_after;
  auto* signal_opt = app.add_option("-s,--signal", signal);
  auto* kill_after_opt = app.add_option("-k,--kill-after", kill_after);
  app.add_flag("--fail-fast", o.fail_fast);
  app.add_flag("-p,--print-remaining", o.print_remaining);
  app.add_flag("--progress", o.progress);
  Criteria& c = o.criteria;
  std::string pattern, euids, uids, gids, parents, pgroups, sessions, terminals, older;
  auto* pattern_opt = app.add_option("-m,--match", pattern);
  app.add_flag("--full", c.full);
  app.add_flag("--exact", c.exact);
  app.add_flag("--ignore-case", c.ignore_case);
  auto* euid_opt = app.add_option("--euid", euids);
  auto* uid_opt = app.add_option("--uid", uids);
  auto* group_opt = app.add_option("--group", gids);
  auto* parent_opt = app.add_option("--parent", parents);
  auto* pgroup_opt = app.add_option("--pgroup", pgroups);
  auto* session_opt = app.add_option("--session", sessions);
  auto* terminal_opt = app.add_option("--terminal", terminals);
  app.add_flag("--newest", c.newest);
  app.add_flag("--oldest", c.oldest);
  auto* older_opt = app.add_option("--older", older);

  // The PIDs never reach CLI11, which would hold each as a string several
  // times over (megabytes with 20,000 targets): every argument that is not
  // an option or an option's value is a target, as is everything after "--".
  std::vector<const char*> options{argv[0]}, operands;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      operands.insert(operands.end(), argv + i + 1, argv + argc);
      break;
    }
    if (!is_option(app, arg)) {
      operands.push_back(argv[i]);
      continue;
    }
    check_option(app, arg, i + 1 < argc);
    options.push_back(argv[i]);
    if (i + 1 < argc && value_follows(app, arg)) options.push_back(argv[++i]);
  }
  try {
    app.parse(static_cast<int>(options.size()), options.data());
  } catch (const CLI::ParseError&) {
    // check_option() caught what CLI11 refuses; should it refuse more, the
    // words stay ours.
    throw UsageError("invalid options");
  }
  if (help) {
    result.output = kHelp;
    return result;
  }
  if (version) {
    result.output = std::string("pwait ") + PWAIT_VERSION + "\n";
    return result;
  }

  o.backend = backend_opt->count() ? backend : !default_backend.empty() ? std::string(default_backend) : "auto";
  if (o.backend != "auto" && !find_backend(o.backend)) {
    UsageError e(fmt::format("unknown backend {}{}", shown(o.backend), backend_opt->count() ? "" : " from PWAIT_BACKEND"));
    e.hint = "try --list-backends";
    throw e;
  }
  o.operands.reserve(operands.size());
  for (const char* a : operands) o.operands.push_back(parse_named(a));
  std::vector<const char*>().swap(operands);
  for (const Named& n : o.operands)
    if (n.pid == getpid()) throw UsageError(fmt::format("{}: is pwait itself; it cannot wait for its own end", n.pid));
  for (const std::string& p : cgroup_of) {
    Named n = parse_named(p);
    if (n.inode) throw UsageError(fmt::format("--cgroup-of takes a PID, not a handle: {}", shown(p)));
    o.cgroup_of.push_back(n.pid);
  }
  if (pattern_opt->count()) c.pattern = pattern;
  if (euid_opt->count()) c.euids = parse_users(euids, "--euid");
  if (uid_opt->count()) c.uids = parse_users(uids, "--uid");
  if (group_opt->count()) c.gids = parse_groups(gids, "--group");
  if (parent_opt->count()) c.parents = parse_id_list(parents, "--parent");
  if (pgroup_opt->count()) c.pgroups = parse_id_list(pgroups, "--pgroup", getpgrp());
  if (session_opt->count()) c.sessions = parse_id_list(sessions, "--session", getsid(0));
  if (terminal_opt->count()) c.terminals = parse_terminals(terminals, "--terminal");
  if (older_opt->count()) c.older = parse_duration(older, "--older");
  if (c.newest && c.oldest) throw UsageError("--newest and --oldest exclude each other");
  if ((c.full || c.exact || c.ignore_case) && !c.pattern)
    throw UsageError(fmt::format("{} applies to a pattern: give one with -m", c.full ? "--full" : c.exact ? "--exact" : "--ignore-case"));
  if (o.list_backends) {
    if (!o.pidfiles.empty()) throw UsageError("--list-backends takes PIDs as operands, not from --pidfile");
    result.options = std::move(o);
    return result;
  }
  if (timeout_opt->count()) {
    Duration d = parse_duration(timeout, "timeout");
    if (d > Duration::zero()) o.timeout = d;  // 0: no timeout, as timeout(1) and the other waiters
  }
  if (signal_opt->count()) o.signal = parse_signal(signal, "--signal");
  if (kill_after_opt->count()) {
    o.kill_after = parse_duration(kill_after, "--kill-after duration");
    if (*o.kill_after <= Duration::zero()) throw UsageError(fmt::format("invalid --kill-after duration {}: must be more than 0", shown(kill_after)));
  }
  if ((o.signal || o.kill_after) && !o.timeout && !o.fail_fast)
    throw UsageError(fmt::format("{} acts when pwait gives up: give a timeout (-t) or --fail-fast",
                                 o.signal ? "--signal" : "--kill-after"));
  if (o.fail_fast) o.exit_status = true;  // its exit code is -x's for the failed target
  if (interval_opt->count()) {
    if (o.backend != "poll")
      throw UsageError(fmt::format("--interval sets the poll backend's interval, and the backend is {}{}: "
                                   "use it with --backend poll",
                                   o.backend, o.backend == "auto" ? " (which may pick another)" : ""));
    o.interval = parse_duration(interval, "interval");
    if (*o.interval < std::chrono::milliseconds(1))
      throw UsageError(fmt::format("invalid interval {}: must be at least 1ms", shown(interval)));
  }
  if (o.operands.empty() && o.pidfiles.empty() && !c.any() && o.cgroups.empty() && o.cgroup_of.empty())
    throw UsageError(
        "no target given: name PIDs as operands, in a pidfile (-F), select them (-m, --euid, ...), or name a cgroup");
  if (o.tree && o.operands.empty() && o.pidfiles.empty() && !c.any())
    throw UsageError("--tree applies to processes: name a PID, a pidfile (-F) or a selection (-m, ...)");
  if (o.print_handles && (!o.cgroups.empty() || !o.cgroup_of.empty()))
    throw UsageError("--print-handles prints processes' handles; a cgroup has none");
  if (o.lock_pidfiles && o.pidfiles.empty()) throw UsageError("--logpidfile applies to pidfiles: give one with -F");
  if (any && count_opt->count()) throw UsageError("--any and --count exclude each other");
  if (any) o.count = 1;
  if (count_opt->count()) {
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (ec != std::errc() || p != count.data() + count.size() || n < 1)
      throw UsageError(fmt::format("invalid count {}: must be a number from 1 to the number of targets", shown(count)));
    o.count = n;
  }
  if (o.verbose && o.json) throw UsageError("--verbose and --json exclude each other");
  result.options = std::move(o);
  return result;
}

}  // namespace pwait
