#include "pwait/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <algorithm>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/fd.h"

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
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);

  ProcStat st;
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

std::optional<pid_t> read_tgid(pid_t pid) {
  std::string p = "/proc/" + std::to_string(pid) + "/status";
  char buf[4096];
  std::size_t len;
  if (!read_small(p.c_str(), buf, sizeof buf, len)) return std::nullopt;
  std::string_view text(buf, len);
  auto at = text.find("\nTgid:");
  if (at == std::string_view::npos) throw_error(EINVAL, "parse", p);
  text.remove_prefix(at + 6);
  text.remove_prefix(std::min(text.find_first_not_of(" \t"), text.size()));
  text = text.substr(0, text.find('\n'));
  pid_t tgid;
  if (!to_number(text, tgid)) throw_error(EINVAL, "parse", p);
  return tgid;
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

pid_t pid_max() {
  // Read once: parse_pid() asks for every PID on the command line, and
  // 20,000 opens of /proc/sys/kernel/pid_max cost more than the wait.
  static const pid_t cached = [] {
    char buf[32];
    std::size_t len;
    try {
      if (read_small("/proc/sys/kernel/pid_max", buf, sizeof buf, len)) {
        std::string_view s(buf, len);
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
        pid_t v;
        if (to_number(s, v) && v > 0) return v;
      }
    } catch (const std::exception&) {
    }
    return 4194304;  // PID_MAX_LIMIT on 64-bit
  }();
  return cached;
}

}  // namespace pwait
