#include "pwait/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/fd.h"
#include "pwait/report.h"

namespace pwait {
namespace {

// Reads a small /proc file whole. false when the file does not exist
// (the process is gone); other failures are errors.
bool read_small(const char* path, char* buf, std::size_t cap, std::size_t& len) {
  Fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH) return false;
    throw_errno("open", path);
  }
  len = 0;
  while (len < cap) {
    ssize_t n = read(fd.get(), buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ESRCH) return false;  // reaped between open and read
      throw_errno("read", path);
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  return true;
}

template <typename T>
bool to_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ..."; comm may hold spaces and ')', so the
  // fields start after the last ')'.
  auto open = text.find(" (");
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2) return std::nullopt;
  std::string_view rest = text.substr(close + 1);

  ProcStat st;
  st.comm = text.substr(open + 2, close - open - 2);
  int field = 2;  // the field just consumed: comm
  bool have_threads = false, have_start = false;
  while (!rest.empty()) {
    auto begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) break;
    rest.remove_prefix(begin);
    auto end = rest.find_first_of(" \n");
    std::string_view tok = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    ++field;
    switch (field) {
      case 3:
        if (tok.size() != 1) return std::nullopt;
        st.state = tok[0];
        break;
      case 4:
        if (!to_number(tok, st.ppid)) return std::nullopt;
        break;
      case 5:
        if (!to_number(tok, st.pgrp)) return std::nullopt;
        break;
      case 6:
        if (!to_number(tok, st.session)) return std::nullopt;
        break;
      case 7:
        if (!to_number(tok, st.tty_nr)) return std::nullopt;
        break;
      case 20:
        if (!to_number(tok, st.num_threads)) return std::nullopt;
        have_threads = true;
        break;
      case 22:
        if (!to_number(tok, st.start_time)) return std::nullopt;
        have_start = true;
        break;
      case 52:
        if (!to_number(tok, st.exit_code)) return std::nullopt;
        break;
      default:
        break;
    }
  }
  if (st.state == '?' || !have_threads || !have_start) return std::nullopt;
  return st;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  // A free PID answers kill(2) in a quarter of the time a failed open of
  // /proc/PID takes; in an exit storm most of the PIDs looked at are free.
  if (kill(pid, 0) != 0 && errno == ESRCH) return std::nullopt;
  char path[32];
  *std::to_chars(path, path + sizeof path - 1, pid).ptr = '\0';
  std::string p = std::string("/proc/") + path + "/stat";
  char buf[1024];
  std::size_t len;
  if (!read_small(p.c_str(), buf, sizeof buf, len)) return std::nullopt;
  auto st = parse_proc_stat({buf, len});
  if (!st) throw_error(EINVAL, "parse", p);
  return st;
}

bool process_exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

std::optional<ProcStatus> parse_proc_status(std::string_view text) {
  ProcStatus st;
  bool have_tgid = false, have_uid = false, have_gid = false;
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(line.size() + 1, text.size()));
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
    // The numbers of a field, as many as `out` holds: all must be there.
    auto numbers = [&](auto& out, int base = 10) {
      std::string_view v = value;
      for (auto& n : out) {
        v.remove_prefix(std::min(v.find_first_not_of(" \t"), v.size()));
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
        if (ec != std::errc()) return false;
        v.remove_prefix(static_cast<std::size_t>(p - v.data()));
      }
      return true;
    };
    std::array<long long, 1> one{};
    if (key == "Name") st.name = value;
    else if (key == "Tgid") have_tgid = numbers(one) && (st.tgid = static_cast<pid_t>(one[0]), true);
    else if (key == "PPid" && numbers(one)) st.ppid = static_cast<pid_t>(one[0]);
    else if (key == "TracerPid" && numbers(one)) st.tracer = static_cast<pid_t>(one[0]);
    else if (key == "Uid") have_uid = numbers(st.uid);
    else if (key == "Gid") have_gid = numbers(st.gid);
    else if (key == "CapEff") {
      std::array<std::uint64_t, 1> caps{};
      if (numbers(caps, 16)) st.cap_eff = caps[0];
    }
  }
  if (!have_tgid || !have_uid || !have_gid) return std::nullopt;
  return st;
}

std::optional<ProcStatus> read_proc_status(pid_t pid) {
  std::string p = "/proc/" + std::to_string(pid) + "/status";
  char buf[8192];
  std::size_t len;
  if (!read_small(p.c_str(), buf, sizeof buf, len)) return std::nullopt;
  auto st = parse_proc_status({buf, len});
  if (!st) throw_error(EINVAL, "parse", p);
  return st;
}

std::optional<pid_t> read_tgid(pid_t pid) {
  auto st = read_proc_status(pid);
  if (!st) return std::nullopt;
  return st->tgid;
}

std::string not_a_process(pid_t pid, std::optional<pid_t> tgid) {
  return tgid ? fmt::format("{}: is a thread of process {}, not a process", pid, *tgid)
              : fmt::format("{}: is a thread, not a process", pid);
}

bool exit_code_readable(pid_t pid) {
  // The kernel masks exit_code when ptrace_may_access(PTRACE_MODE_READ_FSCREDS)
  // fails; readlink of /proc/PID/exe makes the same check first (EACCES),
  // and only then fails with ENOENT for a zombie, which has no mm.
  std::string p = "/proc/" + std::to_string(pid) + "/exe";
  char buf[1];
  return !(readlink(p.c_str(), buf, sizeof buf) < 0 && (errno == EACCES || errno == EPERM));
}

std::optional<int> zombie_status(pid_t pid, const ProcStat& stat) {
  if (stat.exit_code != 0) return stat.exit_code;
  // 0 is either "exited with status 0" or masked.
  if (!exit_code_readable(pid)) return std::nullopt;
  return 0;
}

std::optional<long> read_sysctl(const char* path) {
  char buf[32];
  std::size_t len;
  try {
    if (!read_small(path, buf, sizeof buf, len)) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string_view s(buf, len);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  long v;
  if (!to_number(s, v)) return std::nullopt;
  return v;
}

pid_t pid_max() {
  // Read once: parse_pid() asks for every PID on the command line, and
  // 20,000 opens of /proc/sys/kernel/pid_max cost more than the wait.
  static const pid_t cached = [] {
    auto v = read_sysctl("/proc/sys/kernel/pid_max");
    return v && *v > 0 && *v <= INT_MAX ? static_cast<pid_t>(*v) : kPidMaxLimit;
  }();
  return cached;
}

bool in_initial_user_namespace() {
  char buf[128];
  std::size_t len;
  try {
    if (!read_small("/proc/self/uid_map", buf, sizeof buf - 1, len)) return true;
  } catch (const std::exception&) {
    return true;  // cannot tell: do not blame it
  }
  // "0 0 4294967295": the whole range, mapped to itself.
  std::string_view map(buf, len);
  std::array<unsigned long, 3> v{};
  for (auto& n : v) {
    map.remove_prefix(std::min(map.find_first_not_of(" \t\n"), map.size()));
    auto [p, ec] = std::from_chars(map.data(), map.data() + map.size(), n);
    if (ec != std::errc()) return false;  // no mapping
    map.remove_prefix(static_cast<std::size_t>(p - map.data()));
  }
  return v[0] == 0 && v[1] == 0 && v[2] == 4294967295UL;
}

namespace {

constexpr int kCapSysPtrace = 19;

// /proc/PID/status, or nullopt when it cannot be read (gone, hidden).
std::optional<ProcStatus> status_of(pid_t pid) {
  try {
    return read_proc_status(pid);
  } catch (const std::system_error&) {
    return std::nullopt;
  }
}

}  // namespace

bool may_trace_anything() {
  // Capabilities held inside a user namespace count only there.
  if (!in_initial_user_namespace()) return false;
  auto self = status_of(getpid());
  return self && (self->cap_eff & (std::uint64_t{1} << kCapSysPtrace));
}

std::optional<std::string> yama_refusal(bool privileged) {
  char c = '0';
  std::size_t len = 0;
  try {
    if (!read_small("/proc/sys/kernel/yama/ptrace_scope", &c, 1, len) || len != 1) return std::nullopt;  // no Yama
  } catch (const std::system_error&) {
    return std::nullopt;
  }
  if (c == '3') return "Yama forbids every ptrace attach (kernel.yama.ptrace_scope = 3)";
  if (c == '2' && !privileged)
    return "Yama allows ptrace attach only with CAP_SYS_PTRACE (kernel.yama.ptrace_scope = 2)";
  if (c == '1' && !privileged)
    return "Yama allows tracing only descendants, and targets are not pwait's children "
           "(kernel.yama.ptrace_scope = 1)";
  return std::nullopt;
}

std::optional<std::string> ptrace_refusal(pid_t pid, bool privileged) {
  auto st = status_of(pid);
  if (!st) return std::nullopt;
  if (st->tracer != 0) {
    // TracerPid names the tracing thread; say which process it belongs to.
    auto about = status_of(st->tracer);
    return fmt::format("{}: already traced by process {} ({}); only one tracer at a time", pid,
                       about ? about->tgid : st->tracer, about ? shown(about->name) : "?");
  }
  if (privileged) return std::nullopt;
  // The kernel's check: our real uid and gid match the target's real, effective and saved ones.
  bool same = true;
  for (int k = 0; k < 3; ++k) same = same && st->uid[k] == getuid() && st->gid[k] == getgid();
  if (!same) return fmt::format("{}: belongs to another user; tracing it needs CAP_SYS_PTRACE", pid);
  return std::nullopt;
}

}  // namespace pwait
