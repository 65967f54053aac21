#include "pwait/select.h"

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/fd.h"
#include "pwait/proc.h"
#include "pwait/report.h"

namespace pwait {
namespace {

template <typename T>
bool to_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// The elements of a comma-separated list; an empty list or element is refused.
std::vector<std::string_view> elements(std::string_view list, std::string_view option) {
  std::vector<std::string_view> out;
  while (true) {
    auto comma = list.find(',');
    std::string_view e = list.substr(0, comma);
    if (e.empty()) throw UsageError(fmt::format("{}: invalid empty list or element in {}", option, shown(list)));
    out.push_back(e);
    if (comma == std::string_view::npos) return out;
    list.remove_prefix(comma + 1);
  }
}

// The id of `name` in a passwd-style file (/etc/passwd, /etc/group): the
// third field of the line whose first field is the name. pwait is linked
// statically, so it reads the files rather than asking NSS.
std::optional<unsigned> id_in(const char* file, std::string_view name) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    std::string_view l = line;
    auto c1 = l.find(':');
    if (c1 == std::string_view::npos || l.substr(0, c1) != name) continue;
    auto c2 = l.find(':', c1 + 1);
    auto c3 = c2 == std::string_view::npos ? c2 : l.find(':', c2 + 1);
    unsigned id;
    if (c3 != std::string_view::npos && to_number(l.substr(c2 + 1, c3 - c2 - 1), id)) return id;
  }
  return std::nullopt;
}

template <typename Id>
std::vector<Id> parse_ids(std::string_view list, std::string_view option, const char* file, const char* what) {
  std::vector<Id> ids;
  for (std::string_view e : elements(list, option)) {
    unsigned id;
    if (to_number(e, id)) ids.push_back(static_cast<Id>(id));
    else if (auto found = id_in(file, e)) ids.push_back(static_cast<Id>(*found));
    else throw UsageError(fmt::format("{}: no {} {} (in {})", option, what, shown(e), file));
  }
  return ids;
}

// /proc/PID/stat's encoding of a terminal's device number.
int tty_nr_of(dev_t dev) {
  unsigned maj = major(dev), min = minor(dev);
  return static_cast<int>((min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12));
}

// Clock ticks since boot now, in /proc/PID/stat's start-time units.
unsigned long long ticks_now() {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  auto hz = static_cast<unsigned long long>(sysconf(_SC_CLK_TCK));
  return static_cast<unsigned long long>(now.tv_sec) * hz +
         static_cast<unsigned long long>(now.tv_nsec) / (1'000'000'000ULL / hz);
}

// /proc/PID/cmdline with its NULs as spaces (pgrep -f's reading); the name
// in brackets when empty (a kernel thread, a zombie).
std::optional<std::string> command_line(pid_t pid, const std::string& comm) {
  Fd fd(open(fmt::format("/proc/{}/cmdline", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  while (!text.empty() && text.back() == '\0') text.pop_back();
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text.empty() ? "[" + comm + "]" : text;
}

// The pattern, compiled as pgrep compiles it.
class Pattern {
 public:
  explicit Pattern(const Criteria& c) {
    if (!c.pattern) return;
    std::string re = c.exact ? "^(" + *c.pattern + ")$" : *c.pattern;
    int err = regcomp(&re_, re.c_str(), REG_EXTENDED | REG_NOSUB | (c.ignore_case ? REG_ICASE : 0));
    if (err != 0) {
      char why[256];
      regerror(err, &re_, why, sizeof why);
      throw UsageError(fmt::format("invalid pattern {}: {}", shown(*c.pattern), why));
    }
    compiled_ = true;
  }
  ~Pattern() {
    if (compiled_) regfree(&re_);
  }
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;
  bool matches(const std::string& text) const { return !compiled_ || regexec(&re_, text.c_str(), 0, nullptr, 0) == 0; }

 private:
  regex_t re_{};
  bool compiled_ = false;
};

template <typename T>
bool in(const std::vector<T>& list, T v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// Whether process `pid` meets the criteria, read by number now; its name
// and start time when it does.
struct Candidate {
  pid_t pid;
  std::string name;
  unsigned long long start_time;
};

std::optional<Candidate> look_at(pid_t pid, const Criteria& c, const Pattern& pattern, unsigned long long now) {
  auto st = read_proc_stat(pid);
  if (!st || !in(c.parents, st->ppid) || !in(c.pgroups, st->pgrp) || !in(c.sessions, st->session) ||
      !in(c.terminals, st->tty_nr))
    return std::nullopt;
  if (c.older) {
    auto hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    double age = static_cast<double>(now - std::min(now, st->start_time)) / hz;
    if (age < std::chrono::duration<double>(*c.older).count()) return std::nullopt;
  }
  if (!c.euids.empty() || !c.uids.empty() || !c.gids.empty()) {
    auto status = read_proc_status(pid);
    if (!status || !in(c.uids, status->uid[0]) || !in(c.euids, status->uid[1]) || !in(c.gids, status->gid[0]))
      return std::nullopt;
  }
  if (c.full) {
    auto line = command_line(pid, st->comm);
    if (!line || !pattern.matches(*line)) return std::nullopt;
  } else if (!pattern.matches(st->comm)) {
    return std::nullopt;
  }
  return Candidate{pid, st->comm, st->start_time};
}

// pwait and its ancestors, up to PID 1: never targets (each waits for pwait).
std::vector<std::pair<pid_t, const char*>> self_and_ancestors() {
  std::vector<std::pair<pid_t, const char*>> chain{{getpid(), "it is pwait itself"}};
  for (pid_t p = getppid(); p > 0; ) {
    chain.emplace_back(p, p == getppid() ? "it is pwait's parent, which would wait for pwait"
                                         : "it is an ancestor of pwait, which would wait for pwait");
    if (p == 1) break;
    auto st = read_proc_stat(p);
    if (!st || st->ppid == p) break;
    p = st->ppid;
  }
  return chain;
}

}  // namespace

bool Criteria::any() const {
  return pattern || !euids.empty() || !uids.empty() || !gids.empty() || !parents.empty() || !pgroups.empty() ||
         !sessions.empty() || !terminals.empty() || newest || oldest || older;
}

std::vector<uid_t> parse_users(std::string_view list, std::string_view option) {
  return parse_ids<uid_t>(list, option, "/etc/passwd", "user");
}

std::vector<gid_t> parse_groups(std::string_view list, std::string_view option) {
  return parse_ids<gid_t>(list, option, "/etc/group", "group");
}

std::vector<pid_t> parse_id_list(std::string_view list, std::string_view option, pid_t own) {
  std::vector<pid_t> ids;
  for (std::string_view e : elements(list, option)) {
    int v;
    if (!to_number(e, v) || v < 0) throw UsageError(fmt::format("{}: invalid number {}", option, shown(e)));
    ids.push_back(v == 0 ? own : v);
  }
  return ids;
}

std::vector<int> parse_terminals(std::string_view list, std::string_view option) {
  std::vector<int> ttys;
  for (std::string_view e : elements(list, option)) {
    if (e == "?" || e == "-") {
      ttys.push_back(0);
      continue;
    }
    // A name that is no terminal here matches no process, as in pgrep.
    std::string path = e.starts_with("/dev/") ? std::string(e) : "/dev/" + std::string(e);
    struct stat st {};
    ttys.push_back(stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) ? tty_nr_of(st.st_rdev) : -1);
  }
  return ttys;
}

std::vector<Selected> select_processes(const Criteria& criteria, TargetSet& set,
                                       const std::function<void(pid_t)>& before_pin) {
  Pattern pattern(criteria);
  auto never = self_and_ancestors();
  unsigned long long now = ticks_now();
  std::vector<Candidate> candidates;
  std::vector<Selected> out;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (!proc) throw_errno("opendir", "/proc");
  while (dirent* e = readdir(proc.get())) {
    pid_t pid;
    if (!to_number(std::string_view(e->d_name), pid)) continue;
    auto c = look_at(pid, criteria, pattern, now);
    if (!c) continue;
    auto self = std::find_if(never.begin(), never.end(), [&](const auto& n) { return n.first == pid; });
    if (self != never.end()) out.push_back({pid, c->name, self->second});
    else candidates.push_back(std::move(*c));
  }
  if ((criteria.newest || criteria.oldest) && !candidates.empty()) {
    // Started in the same clock tick: the newest is the last in /proc's
    // order, the oldest the first, as pgrep has it.
    auto by_start = [](const Candidate& a, const Candidate& b) { return a.start_time < b.start_time; };
    Candidate one = criteria.newest ? *std::max_element(candidates.rbegin(), candidates.rend(), by_start)
                                    : *std::min_element(candidates.begin(), candidates.end(), by_start);
    candidates = {one};
  }
  for (const Candidate& c : candidates) {
    if (before_pin) before_pin(c.pid);
    // Read again, now that the pin holds the process: what was read counts
    // only if the pinned process is still there after the reads (it held
    // the PID throughout). A PID reused since the scan fails here.
    std::string name;
    bool added = set.add_if(c.pid, [&](const PidRef& ref) -> std::optional<std::string> {
      auto again = look_at(c.pid, criteria, pattern, now);
      // Another start time is another process: one that took the PID after
      // the scan, even if it matches too (one that took it within the same
      // clock tick as the scanned one started is the documented limit).
      if (!again || again->start_time != c.start_time || !ref.alive()) return std::nullopt;
      name = again->name;
      return name;
    });
    if (added) out.push_back({c.pid, name, ""});
  }
  return out;
}

}  // namespace pwait
