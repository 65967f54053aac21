#include "pwait/report.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include "pwait/exit_codes.h"

namespace pwait {

std::string human_duration(Duration d) {
  double s = std::chrono::duration<double>(d).count();
  if (s < 10) return fmt::format("{:.1f}s", s);
  auto whole = static_cast<long long>(s);
  if (whole < 60) return fmt::format("{}s", whole);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, whole / 60 % 60);
}

std::string signal_name(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return fmt::format("SIGRTMIN+{}", sig - SIGRTMIN);
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("SIG{}", sig);
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\' && c != '\'') out += c;
    else out += fmt::format("\\x{:02x}", u);
  }
  if (text.size() > 40) out += "...";
  return out;
}

std::string shown(std::string_view text) { return "'" + printable(text) + "'"; }

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    // The length of a valid UTF-8 sequence starting here (shortest form, no
    // surrogates, at most U+10FFFF), or 0.
    std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                  : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    auto cont = [&](std::size_t k) { return i + k < text.size() && (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80; };
    for (std::size_t k = 1; k < n; ++k) if (!cont(k)) n = 0;
    if (n >= 3) {
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90)) n = 0;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c >= 0x7f) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
    ++i;
  }
  return out + "\"";
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return fmt::format("killed by signal {} ({}){}", sig, signal_name(sig),
                       WCOREDUMP(status) ? ", core dumped" : "");
  }
  return fmt::format("ended with wait status {:#x}", status);
}

std::string verbose_line(const Event& event, pid_t pid, bool zombie_detail) {
  if (event.kind == EventKind::reaped) return fmt::format("{}: reaped", pid);
  std::string line = event.status ? fmt::format("{}: {}", pid, describe_status(*event.status))
                                  : fmt::format("{}: exited (status unknown)", pid);
  if (event.zombie && zombie_detail) {
    line += event.parent ? fmt::format(", zombie (parent {} has not reaped it)", event.parent)
                         : std::string(", zombie (its parent has not reaped it)");
  }
  return line;
}

std::string json_line(std::string_view kind, const Who& who, const std::optional<int>& status,
                      bool zombie, pid_t parent, std::string_view backend, Duration elapsed) {
  std::string s = "null";
  if (status && WIFEXITED(*status)) {
    s = fmt::format(R"({{"code":{}}})", WEXITSTATUS(*status));
  } else if (status && WIFSIGNALED(*status)) {
    int sig = WTERMSIG(*status);
    s = fmt::format(R"({{"signal":{},"name":"{}","core_dumped":{}}})", sig, signal_name(sig),
                    WCOREDUMP(*status) ? "true" : "false");
  }
  std::string par = zombie && parent ? fmt::format("{}", parent) : "null";
  std::string name = who.name ? json_string(*who.name) : "null";
  std::string inode = who.inode ? fmt::format("{}", who.inode) : "null";
  double seconds = std::chrono::duration<double>(elapsed).count();
  if (who.cgroup)
    return fmt::format(R"({{"event":"{}","cgroup":{},"status":null,"backend":"cgroup.events","elapsed":{:.6f}}})",
                       kind, json_string(*who.cgroup), seconds);
  std::string tree = who.descendants ? fmt::format(R"(,"descendants":{})", *who.descendants) : "";
  // The backend name is one of ours ([a-z]+): no escaping needed.
  return fmt::format(
      R"({{"event":"{}","pid":{},"name":{},"inode":{},"status":{},"zombie":{},"parent":{}{},"backend":"{}","elapsed":{:.6f}}})",
      kind, who.pid, name, inode, s, zombie ? "true" : "false", par, tree, backend, seconds);
}

int status_exit_code(const std::optional<int>& status) {
  if (!status) return exit_code::status_unknown;
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) return exit_code::signal_base + WTERMSIG(*status);
  return exit_code::status_unknown;
}

void Reporter::missing(pid_t pid, bool counts_as_ended) {
  if (json_) output_.out(json_line("missing", Who{.pid = pid}, std::nullopt, false, 0, backend_, loop_.elapsed()));
  if (!counts_as_ended) diagnostic(fmt::format("{}: no such process", pid));
  else if (verbose_) output_.out(fmt::format("{}: no such process", pid));
}

void Reporter::event(const Event& e, const Who& who, bool lasting) {
  if (json_ && who.cgroup && e.kind == EventKind::reaped) return;  // one line: the cgroup has emptied
  if (json_)
    output_.out(json_line(e.kind == EventKind::exited ? "exited" : "reaped", who, e.status, e.zombie, e.parent,
                          backend_, loop_.elapsed()));
  else if (verbose_ && who.cgroup && e.kind == EventKind::exited)
    output_.out(fmt::format("cgroup {}: empty", printable(*who.cgroup)));
  else if (who.cgroup)
    return;
  else if (verbose_)
    output_.out(verbose_line(e, who.pid, lasting) +
                (who.descendants ? fmt::format("; its {} descendant{} had ended too", *who.descendants,
                                               *who.descendants == 1 ? "" : "s")
                                 : ""));
}

void Reporter::still_pending(const Who& who, bool zombie, pid_t parent) {
  if (json_) output_.out(json_line("timeout", who, std::nullopt, zombie, parent, backend_, loop_.elapsed()));
}

void Reporter::selected(pid_t pid, std::string_view name, std::string_view skipped) {
  if (!verbose_) return;
  if (skipped.empty()) output_.out(fmt::format("waiting for {} (pid {})", printable(name), pid));
  else diagnostic(fmt::format("not waiting for {} (pid {}): {}", printable(name), pid, skipped));
}

void Reporter::timed_out(Duration timeout, bool reaped, bool read_all, std::string_view pids) {
  if (!verbose_) return;
  std::string when = fmt::format("timed out after {:g}s{}", std::chrono::duration<double>(timeout).count(),
                                 read_all ? "" : ", before the end of the pidfiles");
  if (pids.empty()) diagnostic(fmt::format("{}; nothing left {}", when, reaped ? "unreaped" : "running"));
  else diagnostic(fmt::format("{}; still {}:{}", when, reaped ? "not reaped" : "running", pids));
}

void Reporter::remaining(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) output_.out(fmt::format("{}", pid));
}

void Reporter::diagnostic(std::string_view text) { output_.err(fmt::format("pwait: {}", text)); }

}  // namespace pwait
