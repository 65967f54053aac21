#include "pwait/options.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

namespace pwait {
namespace {

constexpr const char* kHelp = R"(Usage: pwait [options] PID...
Wait for processes to end (any process, not only children) and say how they ended.

  PID                     decimal process ID, 1..pid_max; duplicates count once
  -F, --pidfile FILE      read more PIDs from FILE (whitespace separated; '-' is stdin); repeatable
  -o, --any               return when the first target has ended
  -c, --count N           return when N targets have ended (1 <= N <= number of targets)
  -r, --reaped            a target ends when it is reaped (gone), not when it exits (zombie)
  -e, --exited            a PID that does not exist counts as already ended (default: error)
  -t, --timeout DURATION  give up after DURATION: 10, 1.5, 1.5s, 250ms, 2m, 1h
  -b, --backend NAME      auto, pidfd, netlink, ptrace, poll; default from PWAIT_BACKEND, else auto
      --list-backends     print every backend, usable here or not, with the reason; exit 0
      --interval DURATION poll backend interval (default: adaptive, 5ms up to 100ms; up to 1s for thousands)
  -v, --verbose           one line per event on stdout
  -j, --json              one JSON object per event on stdout (JSON Lines)
  -x, --exit-status       exit with the first failure among the targets
  -h, --help              print this help and exit
  -V, --version           print the version and exit

Exit status: 0 condition met; 1 a PID did not exist (without -e); 2 usage error;
3 a target cannot be watched; 124 timeout; 125 (-x) a target's status is unknown;
128+N pwait stopped by signal N. With -x: the first failed target's exit code, or
128+N if signal N killed it. See pwait(1).
)";

// Printable, bounded form of user input for error messages.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", u);
  }
  if (s.size() > 40) out += "...";
  return "'" + out + "'";
}

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

// Distinct PIDs in the order first given, without hashing: a sorted copy
// says where each PID's "seen" mark lives.
std::vector<pid_t> first_occurrences(std::vector<pid_t> all) {
  std::vector<pid_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return all;
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<bool> seen(sorted.size());
  std::vector<pid_t> out;
  out.reserve(sorted.size());
  for (pid_t p : all) {
    auto k = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), p) - sorted.begin());
    if (!seen[k]) {
      seen[k] = true;
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace

pid_t parse_pid(std::string_view text) {
  unsigned long long v = 0;
  bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (!digits || ec == std::errc::invalid_argument || p != text.data() + text.size())
    throw UsageError(fmt::format("invalid PID {}: not a decimal number", shown(text)));
  pid_t max = pid_max();
  if (ec == std::errc::result_out_of_range || v < 1 || v > static_cast<unsigned long long>(max))
    throw UsageError(fmt::format("invalid PID {}: out of range 1..{}", shown(text), max));
  return static_cast<pid_t>(v);
}

Duration parse_duration(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return UsageError(fmt::format("invalid {} {}: {}", what, shown(text), why));
  };
  std::size_t n = 0;
  while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
  std::string_view number = text.substr(0, n), unit = text.substr(n);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1)
    throw bad("expected a number with an optional unit ms, s, m or h (e.g. 1.5s)");
  double scale;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "m") scale = 60;
  else if (unit == "h") scale = 3600;
  else throw bad("unknown unit (use ms, s, m or h)");
  double value = 0;
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || p != number.data() + number.size()) throw bad("not a number");
  double seconds = value * scale;
  constexpr double kMax = 100.0 * 365 * 24 * 3600;  // a century: past that, a typo
  if (!std::isfinite(seconds) || seconds > kMax) throw bad("too long");
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

std::vector<pid_t> parse_pid_list(std::string_view content, std::string_view name) {
  std::vector<pid_t> pids;
  constexpr std::string_view ws = " \t\r\n\v\f";
  while (true) {
    auto b = content.find_first_not_of(ws);
    if (b == std::string_view::npos) break;
    content.remove_prefix(b);
    auto e = std::min(content.find_first_of(ws), content.size());
    try {
      pids.push_back(parse_pid(content.substr(0, e)));
    } catch (const UsageError& err) {
      throw UsageError(fmt::format("pidfile {}: {}", name, err.what()));
    }
    content.remove_prefix(e);
  }
  return pids;
}

std::vector<pid_t> read_pidfile(const std::string& path) {
  // A pidfile is small; cap the read so /dev/zero or a huge log is an error, not a hang.
  constexpr std::size_t kMaxSize = 16 << 20;
  Fd owned;
  int fd = 0;
  if (path != "-") {
    owned = Fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned) throw UsageError(fmt::format("pidfile {}: {}", path, strerror(errno)));
    struct stat st{};
    if (fstat(owned.get(), &st) == 0 && S_ISDIR(st.st_mode))
      throw UsageError(fmt::format("pidfile {}: {}", path, strerror(EISDIR)));
    fd = owned.get();
  }
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw UsageError(fmt::format("pidfile {}: {}", path, strerror(errno)));
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > kMaxSize)
      throw UsageError(fmt::format("pidfile {}: larger than {} MiB, not a list of PIDs", path, kMaxSize >> 20));
  }
  if (content.find('\0') != std::string::npos)
    throw UsageError(fmt::format("pidfile {}: binary data, not a list of PIDs", path));
  return parse_pid_list(content, path);
}

ParseResult parse_options(int argc, const char* const* argv, std::string_view default_backend) {
  ParseResult result;
  Options o;
  std::vector<std::string> pidfiles;
  std::string count, timeout, interval, backend;
  bool any = false, help = false, version = false;

  CLI::App app{"pwait"};
  app.set_help_flag();  // our own help text, kept in step with man/pwait.1
  app.add_flag("-h,--help", help);
  app.add_flag("-V,--version", version);
  app.add_option("-F,--pidfile", pidfiles)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
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

  // The PIDs never reach CLI11, which would hold each as a string several
  // times over (megabytes with 20,000 targets): every argument that is not
  // an option or an option's value is a PID, as is everything after "--".
  std::vector<const char*> options{argv[0]}, pid_args;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      pid_args.insert(pid_args.end(), argv + i + 1, argv + argc);
      break;
    }
    if (!is_option(app, arg)) {
      pid_args.push_back(argv[i]);
      continue;
    }
    options.push_back(argv[i]);
    if (i + 1 < argc && value_follows(app, arg)) options.push_back(argv[++i]);
  }
  try {
    app.parse(static_cast<int>(options.size()), options.data());
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    throw UsageError(what.empty() ? "invalid arguments" : what);
  }
  if (help) {
    result.output = kHelp;
    return result;
  }
  if (version) {
    result.output = std::string("pwait ") + PWAIT_VERSION + "\n";
    return result;
  }

  {
    o.backend = backend_opt->count() ? backend : !default_backend.empty() ? std::string(default_backend) : "auto";
    if (o.backend != "auto" && !find_backend(o.backend))
      throw UsageError(fmt::format("unknown backend {}{} (try --list-backends)", shown(o.backend),
                                   backend_opt->count() ? "" : " from PWAIT_BACKEND"));
    if (o.list_backends) {
      result.options = o;
      return result;
    }
    if (timeout_opt->count()) o.timeout = parse_duration(timeout, "timeout");
    if (interval_opt->count()) {
      o.interval = parse_duration(interval, "interval");
      if (*o.interval < std::chrono::milliseconds(1))
        throw UsageError(fmt::format("invalid interval {}: must be at least 1ms", shown(interval)));
    }
    std::vector<pid_t> all;
    all.reserve(pid_args.size());
    for (const char* a : pid_args) all.push_back(parse_pid(a));
    std::vector<const char*>().swap(pid_args);
    for (auto& f : pidfiles) {
      auto more = read_pidfile(f);
      all.insert(all.end(), more.begin(), more.end());
    }
    o.pids = first_occurrences(std::move(all));
    if (o.pids.empty()) throw UsageError("no PID given");
    if (any && count_opt->count()) throw UsageError("--any and --count exclude each other");
    if (any) o.count = 1;
    if (count_opt->count()) {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
      if (ec != std::errc() || p != count.data() + count.size() || n < 1 || n > o.pids.size())
        throw UsageError(fmt::format("invalid count {}: must be a number from 1 to {} (the number of targets)",
                                     shown(count), o.pids.size()));
      o.count = n;
    }
    if (o.verbose && o.json) throw UsageError("--verbose and --json exclude each other");
    for (pid_t p : o.pids)
      if (p == getpid()) throw UsageError(fmt::format("{}: is pwait itself; it cannot wait for its own end", p));
  }
  result.options = std::move(o);
  return result;
}

}  // namespace pwait
