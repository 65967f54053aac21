// pwait's benchmark harness (issue 5). Runs every waiter the same way:
//
//   harness --fork--> reaper --fork--> N targets (own process group, pause())
//           --fork/exec--> waiter PIDs...   (soft RLIMIT_NOFILE 1024)
//
// The targets are children of the reaper, which reaps them at once; the
// waiter is the harness's child, so the harness sees its end through a pidfd
// and its CPU time and peak RSS through wait4(). After the waiter settles the
// harness kills the whole target group with one kill(-pgid, SIGKILL) and
// times (CLOCK_MONOTONIC, shared by all processes) how long the waiter takes
// to return, next to how long the reaper takes to reap every target (the
// kernel's floor). Every figure that is a claim is a ratio to a yardstick
// measured in the same run: the minimal pidfd + poll waiter, the floor, or
// `true`.
//
// Output: Markdown on stdout, and in --out: RESULTS.md, raw.tsv, gnuplot
// data and scripts (bench/run draws the PNGs).

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace {

// ---------------------------------------------------------------- utilities

using Ns = std::int64_t;

Ns now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Ns{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "harness: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Waits until `fd` is readable or `timeout` ns pass; true if readable.
bool wait_readable(int fd, Ns timeout) {
  Ns deadline = now_ns() + timeout;
  for (;;) {
    Ns left = deadline - now_ns();
    if (left < 0) left = 0;
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>((left + 999'999) / 1'000'000));
    if (n > 0) return true;
    if (n == 0 && now_ns() >= deadline) return false;
    if (n < 0 && errno != EINTR) die("poll");
  }
}

bool read_full(int fd, void* buf, std::size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_full(int fd, const void* buf, std::size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

std::string slurp(const std::string& path, std::size_t cap = 65536) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while (out.size() < cap && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return out;
}

std::string first_line(std::string s) {
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  for (char& c : s)
    if (c == '|') c = '/';  // keeps Markdown tables intact
  return s;
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!f) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

bool in_path(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return access(prog.c_str(), X_OK) == 0;
  std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string full = path.substr(start, end - start) + "/" + prog;
    if (access(full.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Run time of a task in ns, from /proc/PID/schedstat (first field).
Ns task_runtime(pid_t pid) {
  std::string s = slurp(fmt("/proc/%d/schedstat", pid), 256);
  return s.empty() ? -1 : std::strtoll(s.c_str(), nullptr, 10);
}

// CPU of the waiter and of the children it has reaped (a shell loop's
// `sleep`s): schedstat of every thread plus cutime+cstime (clock ticks).
Ns waiter_cpu(pid_t pid) {
  Ns total = 0;
  std::string stat = slurp(fmt("/proc/%d/stat", pid), 2048);
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  // Fields after comm: 3 state ... 16 cutime 17 cstime.
  std::vector<std::string> f;
  std::size_t i = close + 2;
  while (i < stat.size() && f.size() < 20) {
    auto sp = stat.find(' ', i);
    if (sp == std::string::npos) sp = stat.size();
    f.push_back(stat.substr(i, sp - i));
    i = sp + 1;
  }
  if (f.size() < 15) return -1;
  long hz = sysconf(_SC_CLK_TCK);
  total += (std::atoll(f[13].c_str()) + std::atoll(f[14].c_str())) * (1'000'000'000 / hz);
  // A single-threaded waiter is the common case: list threads only when there are several.
  if (f.size() >= 18 && std::atoi(f[17].c_str()) > 1) {
    DIR* dir = opendir(fmt("/proc/%d/task", pid).c_str());
    while (dirent* e = dir ? readdir(dir) : nullptr) {
      if (e->d_name[0] == '.') continue;
      Ns r = task_runtime(std::atoi(e->d_name));
      if (r > 0) total += r;
    }
    if (dir) closedir(dir);
  } else {
    Ns r = task_runtime(pid);
    if (r < 0) return -1;
    total += r;
  }
  return total;
}

// Resident set of the waiter now (VmRSS, KiB); -1 if it is gone.
long rss_now_kb(pid_t pid) {
  std::string s = slurp(fmt("/proc/%d/status", pid), 8192);
  auto at = s.find("\nVmRSS:");
  return at == std::string::npos ? -1 : std::atol(s.c_str() + at + 7);
}

// Times the waiter went to sleep and was woken: voluntary context switches
// of every thread (/proc/PID/status counts only the one it names).
long waiter_wakeups(pid_t pid) {
  DIR* dir = opendir(fmt("/proc/%d/task", pid).c_str());
  if (!dir) return -1;
  long total = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string s = slurp(fmt("/proc/%d/task/%s/status", pid, e->d_name), 8192);
    auto at = s.find("\nvoluntary_ctxt_switches:");
    if (at != std::string::npos) total += std::atol(s.c_str() + at + 25);
  }
  closedir(dir);
  return total;
}

// Messages the kernel dropped for the waiter's netlink sockets (the Drops
// column of /proc/net/netlink: a proc connector listener that cannot keep
// up loses events, and then its CPU per exit looks smaller than it is);
// -1 if the waiter holds no netlink socket.
long netlink_drops(pid_t pid) {
  std::vector<std::string> inodes;
  std::string fd_dir = fmt("/proc/%d/fd", pid);
  DIR* dir = opendir(fd_dir.c_str());
  if (!dir) return -1;
  while (dirent* e = readdir(dir)) {
    char target[64];
    ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 9) continue;
    target[n] = '\0';
    if (std::strncmp(target, "socket:[", 8) == 0) inodes.emplace_back(target + 8, static_cast<std::size_t>(n - 9));
  }
  closedir(dir);
  if (inodes.empty()) return -1;
  // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  std::string table = slurp("/proc/net/netlink", 1 << 20);
  long drops = -1;
  for (std::size_t pos = table.find('\n'); pos != std::string::npos && pos + 1 < table.size();) {
    auto end = table.find('\n', pos + 1);
    std::string line = table.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    pos = end;
    std::vector<std::string> col;
    for (std::size_t i = 0; i < line.size();) {
      auto sp = line.find_first_of(" \t", i);
      if (sp == std::string::npos) sp = line.size();
      if (sp > i) col.push_back(line.substr(i, sp - i));
      i = sp + 1;
    }
    if (col.size() < 10 || std::find(inodes.begin(), inodes.end(), col[9]) == inodes.end()) continue;
    drops = std::max(drops, 0L) + std::atol(col[8].c_str());
  }
  return drops;
}

// Processes and threads created on the whole machine since boot (/proc/stat
// "processes"). Over a window, nearly as many end: each is an exit a proc
// connector listener hears about, whoever started it.
long machine_forks() {
  std::string s = slurp("/proc/stat", 1 << 20);  // the intr line before it can be long
  auto at = s.find("\nprocesses ");
  return at == std::string::npos ? -1 : std::atol(s.c_str() + at + 11);
}

// Every thread of the waiter is asleep (S) or stopped: not setting up.
bool waiter_sleeping(pid_t pid) {
  DIR* dir = opendir(fmt("/proc/%d/task", pid).c_str());
  if (!dir) return false;
  bool all = true;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string s = slurp(fmt("/proc/%d/task/%s/stat", pid, e->d_name), 512);
    auto close = s.rfind(')');
    char st = close != std::string::npos && close + 2 < s.size() ? s[close + 2] : '?';
    if (st != 'S' && st != 't' && st != 'T') all = false;
  }
  closedir(dir);
  return all;
}

// ------------------------------------------------------------------ limits

rlimit g_orig_nofile{};  // what the harness was started with: waiters get soft 1024 under this hard limit

void raise_own_nofile() {
  getrlimit(RLIMIT_NOFILE, &g_orig_nofile);
  // The harness holds a pidfd per target (to check that a waiter did not
  // return early): raise its own limit; as root the hard one too.
  rlimit want{65536, 65536};
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    want.rlim_cur = want.rlim_max = g_orig_nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &want);
  }
}

// ----------------------------------------------------------------- targets

// N targets, children of a reaper, in a process group of their own.
struct Targets {
  pid_t reaper = -1;
  pid_t pgid = -1;
  std::vector<pid_t> pids;
  std::vector<pollfd> pidfds;  // the harness's own view, to catch early returns
  std::vector<std::string> start_times;  // /proc start time of the targets beyond the pidfds
  int report = -1;             // reaper -> harness: pids, then the last reap time
  std::string error;
  std::string cgroup;          // cgroup row: the run's cgroup directory, holding the targets

  Targets() = default;
  Targets(const Targets&) = delete;
  Targets& operator=(const Targets&) = delete;
  ~Targets() { cleanup(); }

  void cleanup() {
    if (pgid > 0) kill(-pgid, SIGKILL);
    for (auto& p : pidfds) close(p.fd);
    pidfds.clear();
    if (report >= 0) close(report);
    report = -1;
    if (reaper > 0) {
      kill(reaper, SIGKILL);
      waitpid(reaper, nullptr, 0);
    }
    reaper = -1;
    pgid = -1;
  }
};

[[noreturn]] void reaper_main(std::size_t n, int report) {
  prctl(PR_SET_NAME, "bench-reaper");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<pid_t> pids;
  pids.reserve(n);
  pid_t pgid = 0;
  int32_t err = 0;
  for (std::size_t i = 0; i < n; ++i) {
    pid_t p = fork();
    if (p < 0) {
      err = errno;
      break;
    }
    if (p == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() == 1) _exit(0);
      setpgid(0, pgid);
      prctl(PR_SET_NAME, "bench-target");
      syscall(SYS_close_range, 0, ~0U, 0);
      for (;;) pause();
    }
    setpgid(p, pgid == 0 ? p : pgid);  // both sides, so neither races
    if (pgid == 0) pgid = p;
    pids.push_back(p);
  }
  int32_t count = static_cast<int32_t>(pids.size());
  write_full(report, &err, sizeof err);
  write_full(report, &count, sizeof count);
  write_full(report, pids.data(), pids.size() * sizeof(pid_t));
  // Reap every target as soon as it ends; report when the last one was reaped.
  std::size_t reaped = 0;
  Ns last = 0;
  while (reaped < pids.size()) {
    pid_t p = waitpid(-1, nullptr, 0);
    if (p > 0) {
      ++reaped;
      last = now_ns();
    } else if (errno != EINTR) {
      break;
    }
  }
  write_full(report, &last, sizeof last);
  _exit(0);
}

// Field 22 of /proc/PID/stat (start time in clock ticks), as text; empty if gone.
std::string start_time_of(pid_t pid) {
  std::string s = slurp(fmt("/proc/%d/stat", pid), 1024);
  auto close = s.rfind(')');
  if (close == std::string::npos) return {};
  std::size_t pos = close + 2;
  for (int field = 3; field < 22 && pos != std::string::npos; ++field) {
    pos = s.find(' ', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (pos == std::string::npos) return {};
  return s.substr(pos, s.find(' ', pos) - pos);
}

bool start_targets_once(std::size_t n, Targets& t) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
  pid_t r = fork();
  if (r < 0) die("fork reaper");
  if (r == 0) {
    close(fds[0]);
    reaper_main(n, fds[1]);
  }
  close(fds[1]);
  t.reaper = r;
  t.report = fds[0];
  int32_t err = 0, count = 0;
  if (!read_full(t.report, &err, sizeof err) || !read_full(t.report, &count, sizeof count)) {
    t.error = "reaper died";
    return false;
  }
  t.pids.resize(static_cast<std::size_t>(count));
  if (!read_full(t.report, t.pids.data(), t.pids.size() * sizeof(pid_t))) {
    t.error = "reaper died";
    return false;
  }
  if (!t.pids.empty()) t.pgid = t.pids[0];
  if (err != 0 || t.pids.size() != n) {
    t.error = fmt("could only start %zu of %zu targets: fork: %s", t.pids.size(), n, std::strerror(err));
    return false;
  }
  // As many pidfds as the harness's own fd limit allows (without
  // CAP_SYS_RESOURCE it cannot pass the hard limit); the rest are checked
  // through /proc.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  std::size_t room = lim.rlim_cur > 256 ? static_cast<std::size_t>(lim.rlim_cur) - 256 : 0;
  t.pidfds.reserve(std::min(n, room));
  for (pid_t p : t.pids) {
    if (t.pidfds.size() >= room) break;
    int fd = pidfd_open(p);
    if (fd < 0) die(fmt("pidfd_open %d (target)", p));
    t.pidfds.push_back({fd, POLLIN, 0});
  }
  // The rest are checked by number: remember their start times, since a PID
  // reaped before the check may already belong to someone else's process.
  for (std::size_t i = t.pidfds.size(); i < t.pids.size(); ++i) t.start_times.push_back(start_time_of(t.pids[i]));
  return true;
}

// pid_max is 32768 and the machine is shared: when others hold too many PIDs
// for 20,000 targets, fork fails with EAGAIN. Wait for them a little, twice.
bool start_targets(std::size_t n, Targets& t) {
  for (int attempt = 0;; ++attempt) {
    if (start_targets_once(n, t)) return true;
    if (attempt == 2 || t.error.find("could only start") == std::string::npos) return false;
    t.cleanup();
    t.pids.clear();
    t.start_times.clear();
    t.error.clear();
    poll(nullptr, 0, 3000);
  }
}

// Targets still running (pidfd not readable), checked the moment a waiter returns.
std::size_t still_running(Targets& t) {
  std::size_t n = 0;
  if (!t.pidfds.empty()) {
    for (auto& p : t.pidfds) p.revents = 0;
    if (poll(t.pidfds.data(), t.pidfds.size(), 0) < 0) die("poll targets");
    for (auto& p : t.pidfds)
      if (!(p.revents & POLLIN)) ++n;
  }
  // Targets without a harness pidfd: running if /proc shows the same process
  // (same start time) neither zombie nor dead.
  for (std::size_t i = t.pidfds.size(); i < t.pids.size(); ++i) {
    std::string s = slurp(fmt("/proc/%d/stat", t.pids[i]), 1024);
    auto close = s.rfind(')');
    if (close == std::string::npos || close + 2 >= s.size()) continue;
    char state = s[close + 2];
    if (state != 'Z' && state != 'X' && start_time_of(t.pids[i]) == t.start_times[i - t.pidfds.size()]) ++n;
  }
  return n;
}

// ------------------------------------------------------------------- storm

// A bounded storm of unrelated short processes (issue 15): a child of the
// harness that vforks `count` children one at a time, each _exits at once
// and is reaped at once, as fast as the machine lets it. It reports twice
// on its pipe: when `mark` children have ended (the harness then reads the
// waiter's CPU and kills the target, while the storm goes on), and at the end.
struct Storm {
  struct Report {
    std::int64_t exits;  // children reaped so far
    Ns at;               // when
  };
  pid_t pid = -1;
  int report = -1;

  Storm() = default;
  Storm(const Storm&) = delete;
  Storm& operator=(const Storm&) = delete;
  ~Storm() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (report >= 0) close(report);
  }

  void start(std::int64_t count, std::int64_t mark) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
    pid = fork();
    if (pid < 0) die("fork storm");
    if (pid == 0) {
      close(fds[0]);
      run(count, mark, fds[1]);
    }
    close(fds[1]);
    report = fds[0];
  }

  // The next report; nullopt if the storm died.
  std::optional<Report> next() const {
    Report r{};
    if (!read_full(report, &r, sizeof r)) return std::nullopt;
    return r;
  }

  // Waits for the end of the storm; the number of exits it caused.
  std::int64_t finish() {
    std::optional<Report> last = next();
    waitpid(pid, nullptr, 0);
    pid = -1;
    return last ? last->exits : -1;
  }

 private:
  static pid_t one_child() {
    pid_t p = vfork();
    if (p == 0) _exit(0);
    return p;
  }

  [[noreturn]] static void run(std::int64_t count, std::int64_t mark, int out) {
    prctl(PR_SET_NAME, "bench-storm");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::int64_t exits = 0;
    int refused = 0;
    while (exits < count) {
      pid_t p = one_child();
      if (p < 0) {
        if (errno == EAGAIN && ++refused < 1000) continue;  // PIDs or memory short for a moment
        break;
      }
      while (waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
      }
      if (++exits == mark) {
        Report r{exits, now_ns()};
        write_full(out, &r, sizeof r);
      }
    }
    Report r{exits, now_ns()};
    if (exits < mark) write_full(out, &r, sizeof r);  // the mark never came: say so first
    write_full(out, &r, sizeof r);
    _exit(0);
  }
};

// ----------------------------------------------------------------- waiters

struct WaiterDef {
  std::string name;  // row label
  std::string key;   // file-safe
  std::string note;  // how it is run, for RESULTS.md
  std::function<std::vector<std::string>(const Targets&)> argv;
  std::function<std::vector<std::string>(pid_t gone)> gone_argv;
  std::string unavailable;  // why it cannot run here; empty when it can
  bool is_pwait = false;
};

std::vector<std::string> pid_args(const Targets& t, const std::string& prefix = "") {
  std::vector<std::string> out;
  out.reserve(t.pids.size());
  for (pid_t p : t.pids) out.push_back(prefix + std::to_string(p));
  return out;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const char* kShellLoop = "for p; do while kill -0 \"$p\" 2>/dev/null; do sleep 0.1; done; done";

std::vector<WaiterDef> make_waiters(const std::string& pwait, const std::string& minimal) {
  std::vector<WaiterDef> w;
  w.push_back({"minimal pidfd+poll", "minimal", "bench/minimal_waiter.cc: pidfd_open + poll(2), nothing else",
               [=](const Targets& t) { return concat({minimal}, pid_args(t)); },
               [=](pid_t g) { return std::vector<std::string>{minimal, std::to_string(g)}; }, "", false});
  // The same minimal waiter again, as a control: its ratios to the first show
  // how far two identical waiters drift apart on this machine in one run.
  w.push_back({"minimal again (noise control)", "minimal2", "the same binary as the minimal waiter, run as another row",
               [=](const Targets& t) { return concat({minimal}, pid_args(t)); },
               [=](pid_t g) { return std::vector<std::string>{minimal, std::to_string(g)}; }, "", false});
  // pwait: auto, then every backend the table may hold.
  std::string list = run_capture("'" + pwait + "' --list-backends");
  w.push_back({"pwait", "pwait", "pwait PID... (backend auto)",
               [=](const Targets& t) { return concat({pwait}, pid_args(t)); },
               [=](pid_t g) { return std::vector<std::string>{pwait, std::to_string(g)}; },
               access(pwait.c_str(), X_OK) == 0 ? "" : "pwait binary not found", true});
  for (std::string b : {"pidfd", "poll", "netlink", "ptrace"}) {
    std::string why;
    std::size_t at = std::string::npos;
    for (std::size_t pos = 0; pos < list.size();) {
      auto end = list.find('\n', pos);
      if (end == std::string::npos) end = list.size();
      std::string line = list.substr(pos, end - pos);
      if (line.rfind(b + " ", 0) == 0) at = pos;
      if (at == pos) {
        if (line.find("unavailable") != std::string::npos) {
          auto r = line.find("unavailable");
          why = "unavailable: " + line.substr(std::min(line.size(), r + 12));
        }
        break;
      }
      pos = end + 1;
    }
    if (at == std::string::npos) why = "not in this pwait build (--list-backends)";
    w.push_back({"pwait --backend " + b, "pwait-" + b, "pwait --backend " + b + " PID...",
                 [=](const Targets& t) { return concat({pwait, "--backend", b}, pid_args(t)); },
                 [=](pid_t g) { return std::vector<std::string>{pwait, "--backend", b, std::to_string(g)}; },
                 why, true});
  }
  w.push_back({"procps pidwait", "pidwait", "pidwait -g PGID (procps; all targets share a process group)",
               [](const Targets& t) { return std::vector<std::string>{"pidwait", "-g", std::to_string(t.pgid)}; },
               [](pid_t g) { return std::vector<std::string>{"pidwait", "-g", std::to_string(g)}; },
               in_path("pidwait") ? "" : "not installed (apt-get install procps)", false});
  w.push_back({"tail --pid", "tail", "tail --pid=PID... -f /dev/null (coreutils, default 1 s interval)",
               [](const Targets& t) { return concat({"tail"}, concat(pid_args(t, "--pid="), {"-f", "/dev/null"})); },
               [](pid_t g) { return std::vector<std::string>{"tail", "--pid=" + std::to_string(g), "-f", "/dev/null"}; },
               in_path("tail") ? "" : "not installed (coreutils)", false});
  w.push_back({"while kill -0 loop", "kill0", std::string("sh -c '") + kShellLoop + "' sh PID... (dash)",
               [](const Targets& t) { return concat({"sh", "-c", kShellLoop, "sh"}, pid_args(t)); },
               [](pid_t g) { return std::vector<std::string>{"sh", "-c", kShellLoop, "sh", std::to_string(g)}; }, "",
               false});
  w.push_back({"strace -p", "strace", "strace -qqq -e trace=none -e signal=none -p PID... (ptrace)",
               [](const Targets& t) {
                 std::vector<std::string> a{"strace", "-qqq", "-e", "trace=none", "-e", "signal=none"};
                 for (pid_t p : t.pids) {
                   a.push_back("-p");
                   a.push_back(std::to_string(p));
                 }
                 return a;
               },
               [](pid_t g) {
                 return std::vector<std::string>{"strace", "-qqq", "-e", "trace=none", "-p", std::to_string(g)};
               },
               in_path("strace") ? "" : "not installed (apt-get install strace)", false});
  return w;
}

// The footprint A/B (issue 9): the same pwait binary with its page
// shedding on (A, and A' again as the noise control) and off (B). B runs
// with madvise failing, so nothing is shed; A with acct failing: a seccomp
// filter of the same length on a call pwait never makes, so both arms pay
// the same filter on every system call.
std::vector<WaiterDef> make_footprint_arms(const std::string& pwait, const std::string& seccomp) {
  std::string why = seccomp.empty()                        ? "no seccomp_errno launcher (--seccomp)"
                    : access(seccomp.c_str(), X_OK) != 0   ? "seccomp_errno not found: " + seccomp
                    : access(pwait.c_str(), X_OK) != 0     ? "pwait binary not found"
                                                           : "";
  auto arm = [&](const std::string& name, const std::string& key, const std::string& rule) {
    return WaiterDef{name, key, "seccomp_errno " + rule + " -- pwait PID",
                     [=](const Targets& t) { return concat({seccomp, rule, "--", pwait}, pid_args(t)); },
                     [=](pid_t g) { return std::vector<std::string>{seccomp, rule, "--", pwait, std::to_string(g)}; },
                     why, true};
  };
  return {arm("A: shedding on", "fp-on", "acct=EPERM"), arm("B: shedding off", "fp-off", "madvise=EPERM"),
          arm("A': shedding on again (noise control)", "fp-on2", "acct=EPERM")};
}

// The cgroup row (issue 13): waiters on a cgroup v2 directory that holds the
// targets. pwait --cgroup against what a user has without it: a shell loop
// polling cgroup.events, inotifywait, systemd-run --wait.

std::vector<std::string> split(const std::string& s, char sep);

// The cgroup2 mount point from /proc/self/mountinfo; empty if none.
std::string cgroup2_mount() {
  std::string info = slurp("/proc/self/mountinfo", 1 << 20);
  std::size_t pos = 0;
  while (pos < info.size()) {
    auto end = info.find('\n', pos);
    if (end == std::string::npos) end = info.size();
    std::string line = info.substr(pos, end - pos);
    pos = end + 1;
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    auto f = split(line.substr(0, dash), ' ');  // id parent major:minor root mountpoint ...
    if (f.size() >= 5 && f[3] == "/") return f[4];
  }
  return {};
}

// The harness's own directory for the row's cgroups (one per run, below it).
struct CgroupBase {
  std::string dir;  // empty: the row cannot run
  std::string why;  // why not
  int next = 0;
};
CgroupBase g_cg;

void cgroup_cleanup() {
  if (g_cg.dir.empty()) return;
  // Per-run cgroups left by an interrupted run, then the base.
  if (DIR* d = opendir(g_cg.dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, "run-", 4) == 0) rmdir((g_cg.dir + "/" + e->d_name).c_str());
    closedir(d);
  }
  rmdir(g_cg.dir.c_str());
  g_cg.dir.clear();
}

// rmdir of a cgroup whose processes were just killed: EBUSY until the last
// one is gone; retry for up to 2 s.
bool rmdir_cgroup(const std::string& dir) {
  for (int i = 0; i < 200; ++i) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    poll(nullptr, 0, 10);
  }
  return false;
}

void cgroup_setup() {
  std::string mnt = cgroup2_mount();
  if (mnt.empty()) {
    g_cg.why = "no cgroup2 mount in /proc/self/mountinfo";
    return;
  }
  std::string dir = mnt + fmt("/pwait-bench-%d", getpid());
  if (mkdir(dir.c_str(), 0755) != 0) {
    g_cg.why = fmt("cgroup2 mount %s not writable: mkdir %s: %s", mnt.c_str(), dir.c_str(), std::strerror(errno));
    return;
  }
  g_cg.dir = dir;
  std::atexit(cgroup_cleanup);
}

// RunSpec::after_start for the cgroup row: a fresh cgroup, the targets moved in.
std::string targets_into_cgroup(Targets& t) {
  std::string dir = g_cg.dir + fmt("/run-%d", g_cg.next++);
  if (mkdir(dir.c_str(), 0755) != 0) return fmt("mkdir %s: %s", dir.c_str(), std::strerror(errno));
  t.cgroup = dir;
  for (pid_t p : t.pids) {
    int fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    std::string s = std::to_string(p);
    bool ok = fd >= 0 && write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
    int e = errno;
    if (fd >= 0) close(fd);
    if (!ok) return fmt("move target %d into %s: %s", p, dir.c_str(), std::strerror(e));
  }
  if (slurp(dir + "/cgroup.events").find("populated 1") == std::string::npos)
    return "cgroup.events does not say populated 1 after moving the targets in";
  return {};
}

const char* kCgroupGrepLoop = "while grep -q 'populated 1' \"$1/cgroup.events\"; do sleep 0.1; done";
const char* kCgroupInotifyLoop =
    "while grep -q 'populated 1' \"$1/cgroup.events\"; do inotifywait -qq -t 1 -e modify \"$1/cgroup.events\"; done";

std::vector<WaiterDef> make_cgroup_waiters(const std::string& pwait, const std::string& minimal) {
  std::string no_pwait = access(pwait.c_str(), X_OK) == 0 ? "" : "pwait binary not found";
  auto none = [](pid_t) { return std::vector<std::string>{}; };
  std::vector<WaiterDef> w;
  w.push_back({"pwait --cgroup", "cg-pwait", "pwait --cgroup DIR (EPOLLPRI on cgroup.events)",
               [=](const Targets& t) { return std::vector<std::string>{pwait, "--cgroup", t.cgroup}; }, none, no_pwait,
               true});
  w.push_back({"pwait --cgroup-of", "cg-pwait-of", "pwait --cgroup-of PID (PID: the first target)",
               [=](const Targets& t) { return std::vector<std::string>{pwait, "--cgroup-of", std::to_string(t.pids[0])}; },
               none, no_pwait, true});
  w.push_back({"minimal pidfd+poll (on the PIDs)", "cg-minimal",
               "bench/minimal_waiter.cc on the targets' PIDs: the same exits, waited for by PID, for context",
               [=](const Targets& t) { return concat({minimal}, pid_args(t)); }, none, "", false});
  w.push_back({"grep cgroup.events loop", "cg-grep", std::string("sh -c '") + kCgroupGrepLoop + "' sh DIR (dash)",
               [](const Targets& t) { return std::vector<std::string>{"sh", "-c", kCgroupGrepLoop, "sh", t.cgroup}; },
               none, "", false});
  w.push_back({"inotifywait loop", "cg-inotify", std::string("sh -c '") + kCgroupInotifyLoop + "' sh DIR (dash)",
               [](const Targets& t) { return std::vector<std::string>{"sh", "-c", kCgroupInotifyLoop, "sh", t.cgroup}; },
               none, in_path("inotifywait") ? "" : "not installed (apt-get install inotify-tools)", false});
  // systemd-run --wait waits for a unit it starts itself; it has no way to
  // wait for a cgroup made outside systemd, such as the row's.
  std::string sd = !in_path("systemd-run") ? "not installed"
                   : access("/run/systemd/system", F_OK) != 0
                       ? "systemd is not running here (no /run/systemd/system)"
                       : "";
  w.push_back({"systemd-run --wait", "cg-systemd-run", "systemd-run --wait (waits only for a unit it starts itself)",
               [](const Targets&) { return std::vector<std::string>{}; }, none,
               (sd.empty() ? std::string() : sd + "; and ") +
                   "it only waits for a unit it starts itself, not for an existing cgroup such as this row's",
               false});
  return w;
}

// ------------------------------------------------------------------- runs

struct RunResult {
  bool ok = false;
  std::string fail;       // why the row failed
  Ns t_return = -1;       // kill -> waiter returned
  Ns t_floor = -1;        // kill -> reaper reaped the last target
  Ns cpu = -1;            // waiter user+sys (incl. reaped children), whole life
  long maxrss_kb = -1;    // waiter's own program (see clear_refs below)
  double idle_frac = -1;  // CPU share of one core while waiting (idle runs only)
  long idle_rss_kb = -1;  // waiter's VmRSS just before the kill, settled and asleep
  // Busy-machine runs: the window from the storm's start to the kill.
  struct Window {
    Ns ns = -1;
    Ns cpu = -1;              // waiter's CPU over the window
    long storm_exits = -1;    // the storm's children that ended in it
    long machine_exits = -1;  // processes and threads created on the machine in it (the storm's too)
    long wakeups = -1;        // the waiter's voluntary context switches in it
    long drops = -1;          // netlink messages the kernel dropped for the waiter in it; -1: no netlink socket
  } window;
};

struct RunSpec {
  Ns settle_min = 100'000'000;
  Ns settle_jitter = 100'000'000;
  Ns settle_max = 60'000'000'000;
  Ns idle_window = 0;  // >0: measure CPU share over this window after settling
  Ns deadline = 10'000'000'000;
  // Runs once the waiter has settled, right before the kill (the busy
  // row's storm); a non-empty answer fails the run with that reason.
  std::function<std::string(pid_t waiter, int waiter_fd, RunResult&)> before_kill;
  // Runs once the targets are up, before the waiter starts (the cgroup row
  // moves them into a fresh cgroup); a non-empty answer fails the run.
  std::function<std::string(Targets&)> after_start;
};

std::string g_errfile;
std::mt19937_64 g_rng(12345);

pid_t spawn_waiter(const std::vector<std::string>& argv, int errfd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t p = fork();
  if (p < 0) die("fork waiter");
  if (p == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(errfd, 2);
    // What users have: soft 1024 under the machine's hard limit.
    rlimit lim{std::min<rlim_t>(1024, g_orig_nofile.rlim_max), g_orig_nofile.rlim_max};
    setrlimit(RLIMIT_NOFILE, &lim);
    // wait4() reports the larger of the exec'd program's peak RSS and this
    // forked copy's: reset the copy's high-water mark to its (small) current RSS.
    int cr = open("/proc/self/clear_refs", O_WRONLY);
    if (cr >= 0) {
      (void)!write(cr, "5", 1);
      close(cr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  return p;
}

RunResult run_once(const WaiterDef& w, std::size_t n, const RunSpec& spec) {
  RunResult r;
  Targets t;
  if (!start_targets(n, t)) {
    r.fail = t.error;
    return r;
  }
  if (spec.after_start) {
    r.fail = spec.after_start(t);
    if (!r.fail.empty()) return r;
  }
  int errfd = open(g_errfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (errfd < 0) die("open " + g_errfile);
  pid_t wp = spawn_waiter(w.argv(t), errfd);
  close(errfd);
  int wfd = pidfd_open(wp);
  if (wfd < 0) die("pidfd_open waiter");

  auto finish_waiter = [&](int& status, rusage& ru) {
    while (wait4(wp, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    close(wfd);
    r.cpu = Ns{ru.ru_utime.tv_sec + ru.ru_stime.tv_sec} * 1'000'000'000 +
            Ns{ru.ru_utime.tv_usec + ru.ru_stime.tv_usec} * 1000;
    r.maxrss_kb = ru.ru_maxrss;
  };
  auto describe_exit = [&](int status) {
    std::string why = WIFEXITED(status) ? fmt("exit %d", WEXITSTATUS(status))
                                        : fmt("killed by signal %d", WTERMSIG(status));
    std::string err = first_line(slurp(g_errfile, 4096));
    return err.empty() ? why : why + ": " + err;
  };

  // Settle: a minimum (with jitter, so the kill lands at a random phase of
  // a polling waiter's interval), then until the waiter's CPU use is below
  // 10% of a core over 100 ms (its set-up is over).
  Ns start = now_ns();
  Ns min_end = start + spec.settle_min +
               (spec.settle_jitter ? static_cast<Ns>(g_rng() % static_cast<std::uint64_t>(spec.settle_jitter)) : 0);
  bool exited_early = false;
  std::vector<Ns> samples;
  int sleeping = 0;
  for (;;) {
    if (wait_readable(wfd, 20'000'000)) {
      exited_early = true;
      break;
    }
    samples.push_back(waiter_cpu(wp));
    // On a loaded machine a waiter still setting up can sit runnable, using
    // little CPU: it has settled only once it also sleeps, sample after sample.
    sleeping = waiter_sleeping(wp) ? sleeping + 1 : 0;
    Ns now = now_ns();
    if (now >= min_end && samples.size() >= 6 && sleeping >= 5) {
      Ns used = samples.back() - samples[samples.size() - 6];
      if (used < 10'000'000) break;  // < 10 ms of CPU in the last ~100 ms
    }
    if (now - start > spec.settle_max) break;
  }
  if (!exited_early && spec.idle_window > 0) {
    Ns c0 = waiter_cpu(wp), w0 = now_ns();
    if (wait_readable(wfd, spec.idle_window)) {
      exited_early = true;
    } else {
      Ns c1 = waiter_cpu(wp), w1 = now_ns();
      r.idle_frac = static_cast<double>(c1 - c0) / static_cast<double>(w1 - w0);
    }
  }
  if (exited_early) {
    int status = 0;
    rusage ru{};
    finish_waiter(status, ru);
    r.fail = "returned before the kill: " + describe_exit(status);
    return r;
  }
  r.idle_rss_kb = rss_now_kb(wp);
  if (spec.before_kill) {
    std::string why = spec.before_kill(wp, wfd, r);
    if (!why.empty()) {
      bool gone = wait_readable(wfd, 0);
      if (!gone) kill(wp, SIGKILL);
      int status = 0;
      rusage ru{};
      finish_waiter(status, ru);
      r.fail = gone ? why + ": " + describe_exit(status) : why;
      return r;
    }
  }

  Ns t0 = now_ns();
  if (kill(-t.pgid, SIGKILL) != 0) die("kill targets");
  bool returned = wait_readable(wfd, spec.deadline);
  Ns t1 = now_ns();
  std::size_t running = returned ? still_running(t) : 0;
  if (!returned) kill(wp, SIGKILL);
  int status = 0;
  rusage ru{};
  finish_waiter(status, ru);

  Ns last = 0;
  if (wait_readable(t.report, 120'000'000'000) && read_full(t.report, &last, sizeof last) && last > 0)
    r.t_floor = last - t0;
  waitpid(t.reaper, nullptr, 0);
  t.reaper = -1;
  t.pgid = -1;

  if (!returned) {
    r.fail = fmt("no return within %.0f s of the kill", static_cast<double>(spec.deadline) / 1e9);
    std::string err = first_line(slurp(g_errfile, 4096));
    if (!err.empty()) r.fail += ": " + err;
    return r;
  }
  r.t_return = t1 - t0;
  if (running > 0) {
    r.fail = fmt("returned early (%s): %zu of %zu targets still running", describe_exit(status).c_str(), running, n);
    return r;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    r.fail = describe_exit(status);
    return r;
  }
  r.ok = true;
  return r;
}

// The kernel's floor: the same targets and kill with no waiter running,
// so a waiter that burns CPU while the targets exit cannot move it.
Ns floor_once(std::size_t n, Ns settle) {
  Targets t;
  if (!start_targets(n, t)) return -1;
  poll(nullptr, 0, static_cast<int>(settle / 1'000'000));
  Ns t0 = now_ns();
  if (kill(-t.pgid, SIGKILL) != 0) die("kill targets");
  Ns last = 0;
  if (!wait_readable(t.report, 120'000'000'000) || !read_full(t.report, &last, sizeof last) || last <= 0) return -1;
  waitpid(t.reaper, nullptr, 0);
  t.reaper = -1;
  t.pgid = -1;
  return last - t0;
}

// Start-up: fork+exec to exit of `argv` (stdout/stderr to /dev/null).
Ns time_start(const std::vector<std::string>& argv, Ns deadline, int* status_out) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  Ns t0 = now_ns();
  pid_t p;
  if (posix_spawnp(&p, args[0], &fa, nullptr, args.data(), environ) != 0) die("posix_spawnp");
  posix_spawn_file_actions_destroy(&fa);
  int fd = pidfd_open(p);
  bool done = fd < 0 || wait_readable(fd, deadline);
  Ns t1 = now_ns();
  if (fd >= 0) close(fd);
  if (!done) kill(p, SIGKILL);
  int st = 0;
  waitpid(p, &st, 0);
  if (status_out) *status_out = st;
  return done ? t1 - t0 : -1;
}

pid_t gone_pid() {
  for (;;) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, nullptr, 0);
    if (kill(p, 0) != 0 && errno == ESRCH) return p;
  }
}

// ------------------------------------------------------------------- stats

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

std::string human_ns(double ns) {
  if (std::isnan(ns)) return "-";
  if (ns < 1e6) return fmt("%.0f µs", ns / 1e3);
  if (ns < 1e9) return fmt("%.1f ms", ns / 1e6);
  return fmt("%.2f s", ns / 1e9);
}

std::string ratio(double x, double base) {
  if (std::isnan(x) || std::isnan(base) || base <= 0) return "-";
  double r = x / base;
  return r >= 100 ? fmt("%.0f×", r) : r >= 10 ? fmt("%.1f×", r) : fmt("%.2f×", r);
}

std::string human_count(double n) {
  if (std::isnan(n)) return "-";
  return n < 10'000 ? fmt("%.0f", n) : fmt("%.1f thousand", n / 1000);
}

std::string mib(double kb) { return kb < 0 || std::isnan(kb) ? "-" : fmt("%.1f MiB", kb / 1024.0); }

// ------------------------------------------------------------------ config

struct Config {
  std::string pwait, minimal, seccomp, out;
  int runs = 40;             // latency runs per waiter
  int fp_runs = 150;         // footprint A/B runs per arm
  int busy_runs = 6;         // busy-machine runs per waiter
  int cgroup_runs = 20;      // cgroup row runs per waiter
  long storm = 20000;        // unrelated exits per busy-machine run
  int reps = 2;              // scaling runs per waiter at 10,000+ targets (3 at 1,000, 5 below)
  int start_runs = 100;      // start-up runs per command
  Ns idle_window = 2'000'000'000;
  std::vector<std::size_t> sizes{1, 10, 100, 1000, 10000, 20000};
  std::vector<std::string> only;  // waiter keys; empty = all
  std::vector<std::string> rows{"latency", "footprint", "cgroup", "idle", "busy", "scaling", "startup"};
  bool quick = false;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void usage() {
  std::fprintf(stderr,
               "usage: harness --pwait PATH --minimal PATH [--seccomp PATH] --out DIR [--quick] [--runs N]\n"
               "               [--reps N] [--start-runs N] [--idle-seconds S] [--sizes 1,10,...]\n"
               "               [--footprint-runs N] [--busy-runs N] [--cgroup-runs N] [--storm EXITS]\n"
               "               [--waiters k1,k2] [--rows latency,footprint,cgroup,idle,busy,scaling,startup]\n");
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  bool runs_set = false, reps_set = false, start_set = false, idle_set = false, sizes_set = false, fp_set = false,
       busy_set = false, cgroup_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--pwait") c.pwait = val();
    else if (a == "--minimal") c.minimal = val();
    else if (a == "--seccomp") c.seccomp = val();
    else if (a == "--out") c.out = val();
    else if (a == "--quick") c.quick = true;
    else if (a == "--runs") c.runs = std::atoi(val().c_str()), runs_set = true;
    else if (a == "--reps") c.reps = std::atoi(val().c_str()), reps_set = true;
    else if (a == "--start-runs") c.start_runs = std::atoi(val().c_str()), start_set = true;
    else if (a == "--footprint-runs") c.fp_runs = std::atoi(val().c_str()), fp_set = true;
    else if (a == "--busy-runs") c.busy_runs = std::atoi(val().c_str()), busy_set = true;
    else if (a == "--cgroup-runs") c.cgroup_runs = std::atoi(val().c_str()), cgroup_set = true;
    else if (a == "--storm") c.storm = std::atol(val().c_str());
    else if (a == "--idle-seconds") c.idle_window = static_cast<Ns>(std::atof(val().c_str()) * 1e9), idle_set = true;
    else if (a == "--sizes") {
      c.sizes.clear();
      for (auto& s : split(val(), ',')) c.sizes.push_back(std::strtoull(s.c_str(), nullptr, 10));
      sizes_set = true;
    } else if (a == "--waiters") c.only = split(val(), ',');
    else if (a == "--rows") c.rows = split(val(), ',');
    else usage();
  }
  if (c.pwait.empty() || c.minimal.empty() || c.out.empty()) usage();
  if (c.quick) {
    if (!runs_set) c.runs = 30;
    if (!reps_set) c.reps = 1;
    if (!start_set) c.start_runs = 50;
    if (!idle_set) c.idle_window = 1'000'000'000;
    if (!sizes_set) c.sizes = {1, 100, 1000, 10000};
    if (!fp_set) c.fp_runs = 50;
    if (!busy_set) c.busy_runs = 2;
    if (!cgroup_set) c.cgroup_runs = 10;
  }
  if (c.storm < 10) usage();
  return c;
}

bool has_row(const Config& c, const std::string& r) {
  return std::find(c.rows.begin(), c.rows.end(), r) != c.rows.end();
}

// ------------------------------------------------------------------- main

struct Summary {
  std::vector<double> lat, cpu;
  long rss_kb = -1;
  std::vector<std::string> lat_fail;
  double idle = NAN;
  std::string idle_fail;
  // scaling: size -> per-run results
  std::map<std::size_t, std::vector<RunResult>> scale;
  double start_med = NAN;
  std::string start_note;
  std::vector<double> idle_rss;  // VmRSS while waiting, KiB, per latency (or footprint) run
  std::vector<RunResult> busy;   // busy-machine runs
  std::map<int, std::pair<double, double>> by_run;  // run number -> latency, CPU (runs that went right)
};

// Median time to return over the floor measured with no waiter running.
// A waiter's colour and line width in the plots: pwait stands out.
std::string style(const std::string& key) {
  static const std::map<std::string, std::string> colour = {
      {"minimal", "#000000"}, {"minimal2", "#999999"}, {"pwait", "#d62728"},      {"pwait-pidfd", "#ff7f0e"},
      {"pwait-poll", "#bcbd22"}, {"pwait-netlink", "#e377c2"}, {"pwait-ptrace", "#8c564b"}, {"pidwait", "#1f77b4"},
      {"tail", "#17becf"},      {"kill0", "#2ca02c"},    {"strace", "#9467bd"}};
  auto it = colour.find(key);
  return fmt("lc rgb '%s' lw %d", it == colour.end() ? "#444444" : it->second.c_str(), key == "pwait" ? 4 : 2);
}

std::string scale_cell(const std::vector<RunResult>& runs, double floor, bool with_rss, bool show_inrun = false) {
  if (runs.empty()) return "-";
  std::vector<double> ratios, rss, inrun;
  std::string fail;
  for (const auto& r : runs) {
    if (r.ok) {
      ratios.push_back(static_cast<double>(r.t_return) / floor);
      if (r.t_floor > 0) inrun.push_back(static_cast<double>(r.t_return) / static_cast<double>(r.t_floor));
      rss.push_back(static_cast<double>(r.maxrss_kb));
    } else if (!r.ok && fail.empty()) {
      fail = r.fail;
    }
  }
  if (ratios.empty()) return "**failed**: " + fail;
  std::string cell = fmt("%.2f× floor", quantile(ratios, 0.5));
  if (show_inrun && !inrun.empty()) cell += fmt(" (%.2f× in-run reap)", quantile(inrun, 0.5));
  if (with_rss) cell += ", " + mib(*std::max_element(rss.begin(), rss.end()));
  if (!fail.empty()) cell += fmt(" (%zu/%zu failed: %s)", runs.size() - ratios.size(), runs.size(), fail.c_str());
  return cell;
}

// 95% interval of quantile(x, q) / quantile(base, q), by resampling both
// sets (2,000 draws; a fixed seed, so the same data give the same interval).
std::pair<double, double> ratio_interval(const std::vector<double>& x, const std::vector<double>& base, double q) {
  if (x.size() < 2 || base.size() < 2) return {NAN, NAN};
  std::mt19937_64 rng(99);
  std::vector<double> ratios, a(x.size()), b(base.size());
  for (int k = 0; k < 2000; ++k) {
    for (auto& v : a) v = x[rng() % x.size()];
    for (auto& v : b) v = base[rng() % base.size()];
    ratios.push_back(quantile(a, q) / quantile(b, q));
  }
  return {quantile(ratios, 0.025), quantile(ratios, 0.975)};
}

// 95% interval of quantile(v, q), by resampling v (as above).
std::pair<double, double> quantile_interval(const std::vector<double>& v, double q) {
  if (v.size() < 2) return {NAN, NAN};
  std::mt19937_64 rng(99);
  std::vector<double> qs, a(v.size());
  for (int k = 0; k < 2000; ++k) {
    for (auto& x : a) x = v[rng() % v.size()];
    qs.push_back(quantile(a, q));
  }
  return {quantile(qs, 0.025), quantile(qs, 0.975)};
}

// A waiter's busy-machine runs, summed up.
struct BusyStats {
  std::size_t runs = 0, windows = 0, lost = 0;
  std::vector<double> lat;            // kill to return, runs that returned in time with every target gone
  double cpu_per_k = NAN;             // median ns of the waiter's CPU per 1,000 exits on the machine
  double wake_per_k = NAN;            // median wake-ups per 1,000 exits
  double share = NAN;                 // median share of one core during the storm
  long drops = -1;                    // netlink messages dropped for it, all runs; -1: no netlink socket
  double exits_per_s = NAN;           // median exits per second on the machine during the storm
  double storm_share = NAN;           // median share of those that were the storm's
  std::string fail;                   // the first failure
  std::size_t failed = 0;
};

BusyStats busy_stats(const std::vector<RunResult>& runs) {
  BusyStats b;
  std::vector<double> cpu, wake, share, rate, ours;
  for (const auto& r : runs) {
    ++b.runs;
    const auto& w = r.window;
    if (w.ns > 0 && w.machine_exits > 0) {
      ++b.windows;
      double exits = static_cast<double>(w.machine_exits);
      cpu.push_back(static_cast<double>(w.cpu) / exits * 1000);
      wake.push_back(static_cast<double>(w.wakeups) / exits * 1000);
      share.push_back(static_cast<double>(w.cpu) / static_cast<double>(w.ns));
      rate.push_back(exits / (static_cast<double>(w.ns) / 1e9));
      ours.push_back(static_cast<double>(w.storm_exits) / exits);
      if (w.drops >= 0) b.drops = std::max(b.drops, 0L) + w.drops;
    }
    if (r.ok) {
      b.lat.push_back(static_cast<double>(r.t_return));
    } else {
      ++b.failed;
      if (b.fail.empty()) b.fail = r.fail;
      if (r.fail.rfind("no return within", 0) == 0) ++b.lost;
    }
  }
  b.cpu_per_k = quantile(cpu, 0.5);
  b.wake_per_k = quantile(wake, 0.5);
  b.share = quantile(share, 0.5);
  b.exits_per_s = quantile(rate, 0.5);
  b.storm_share = quantile(ours, 0.5);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg = parse(argc, argv);
  unsetenv("PWAIT_BACKEND");
  signal(SIGPIPE, SIG_IGN);
  raise_own_nofile();
  mkdir(cfg.out.c_str(), 0755);
  g_errfile = cfg.out + "/waiter.stderr";
  std::string loadavg_start = first_line(slurp("/proc/loadavg"));
  Ns bench_start = now_ns();

  std::vector<WaiterDef> all = make_waiters(cfg.pwait, cfg.minimal);
  std::vector<WaiterDef> waiters;
  for (auto& w : all)
    if (cfg.only.empty() || w.key == "minimal" ||
        std::find(cfg.only.begin(), cfg.only.end(), w.key) != cfg.only.end())
      waiters.push_back(w);
  std::vector<Summary> sum(waiters.size());
  FILE* raw = std::fopen((cfg.out + "/raw.tsv").c_str(), "w");
  if (!raw) die("open raw.tsv");
  std::fprintf(raw,
               "row\twaiter\ttargets\trun\tok\tt_return_ns\tt_floor_ns\tcpu_ns\tmaxrss_kb\tidle_frac\tidle_rss_kb\t"
               "window_ns\twindow_cpu_ns\tstorm_exits\tmachine_exits\twakeups\tdrops\tfail\n");
  auto record = [&](const char* row, const WaiterDef& w, std::size_t n, int run, const RunResult& r) {
    const auto& win = r.window;
    std::fprintf(raw, "%s\t%s\t%zu\t%d\t%d\t%lld\t%lld\t%lld\t%ld\t%.6f\t%ld\t%lld\t%lld\t%ld\t%ld\t%ld\t%ld\t%s\n", row,
                 w.key.c_str(), n, run, r.ok ? 1 : 0, static_cast<long long>(r.t_return),
                 static_cast<long long>(r.t_floor), static_cast<long long>(r.cpu), r.maxrss_kb, r.idle_frac,
                 r.idle_rss_kb, static_cast<long long>(win.ns), static_cast<long long>(win.cpu), win.storm_exits,
                 win.machine_exits, win.wakeups, win.drops, r.fail.c_str());
    std::fflush(raw);
  };
  auto progress = [&](const std::string& s) {
    std::fprintf(stderr, "bench: %4.0f s: %s\n", static_cast<double>(now_ns() - bench_start) / 1e9, s.c_str());
  };

  // Start-up first, on a quiet machine: every waiter on a PID that is already
  // gone, against `true`.
  std::vector<double> true_times;
  if (has_row(cfg, "startup")) {
    progress("start-up");
    std::vector<std::vector<double>> st(waiters.size());
    std::vector<int> codes(waiters.size(), -1);
    Ns budget_per = 3'000'000'000;  // a slow waiter (tail's 1 s sleep) gets fewer runs
    std::vector<Ns> spent(waiters.size(), 0);
    for (int run = 0; run < cfg.start_runs; ++run) {
      Ns tt = time_start({"true"}, 5'000'000'000, nullptr);
      if (tt > 0) true_times.push_back(static_cast<double>(tt));
      for (std::size_t i = 0; i < waiters.size(); ++i) {
        if (!waiters[i].unavailable.empty() || (spent[i] > budget_per && st[i].size() >= 10)) continue;
        int status = 0;
        Ns t = time_start(waiters[i].gone_argv(gone_pid()), 5'000'000'000, &status);
        if (t > 0) {
          st[i].push_back(static_cast<double>(t));
          spent[i] += t;
          codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        } else {
          spent[i] += 5'000'000'000;
          sum[i].start_note = "no return within 5 s";
        }
      }
    }
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      sum[i].start_med = quantile(st[i], 0.5);
      if (codes[i] >= 0)
        sum[i].start_note = fmt("exit %d, %zu runs", codes[i], st[i].size());
      RunResult r;
      r.ok = !st[i].empty();
      r.t_return = std::isnan(sum[i].start_med) ? -1 : static_cast<Ns>(sum[i].start_med);
      record("startup", waiters[i], 0, 0, r);
    }
  }

  // Latency, CPU per wait and peak RSS: one target, runs interleaved across
  // waiters (rotating the order) so the machine's noise falls on all alike.
  auto interleave = [&](const char* row, const std::vector<WaiterDef>& ws, std::vector<Summary>& into, int runs,
                        const RunSpec& spec) {
    for (int run = 0; run < runs; ++run) {
      if (run % 25 == 0) progress(fmt("%s run %d/%d", row, run + 1, runs));
      for (std::size_t k = 0; k < ws.size(); ++k) {
        std::size_t i = (k + static_cast<std::size_t>(run)) % ws.size();
        const WaiterDef& w = ws[i];
        if (!w.unavailable.empty()) continue;
        // A waiter that fails the same way 3 times in a row will not recover.
        if (into[i].lat.empty() && into[i].lat_fail.size() >= 3) continue;
        RunResult r = run_once(w, 1, spec);
        record(row, w, 1, run, r);
        if (r.ok) {
          into[i].lat.push_back(static_cast<double>(r.t_return));
          into[i].cpu.push_back(static_cast<double>(r.cpu));
          into[i].rss_kb = std::max(into[i].rss_kb, r.maxrss_kb);
          if (r.idle_rss_kb > 0) into[i].idle_rss.push_back(static_cast<double>(r.idle_rss_kb));
          into[i].by_run[run] = {static_cast<double>(r.t_return), static_cast<double>(r.cpu)};
        } else {
          into[i].lat_fail.push_back(r.fail);
        }
      }
    }
  };
  if (has_row(cfg, "latency")) {
    RunSpec spec;
    spec.deadline = 10'000'000'000;
    interleave("latency", waiters, sum, cfg.runs, spec);
  }

  // Footprint A/B (issue 9): the same pwait with page shedding on, off, and
  // on again, interleaved. pwait does not poll, so there is no phase for a
  // settling jitter to randomise: the settle rule alone (asleep, quiet CPU).
  std::vector<WaiterDef> arms = make_footprint_arms(cfg.pwait, cfg.seccomp);
  std::vector<Summary> fp(arms.size());
  std::string fp_loadavg;
  if (has_row(cfg, "footprint")) {
    RunSpec spec;
    spec.settle_min = 0;
    spec.settle_jitter = 0;
    fp_loadavg = first_line(slurp("/proc/loadavg"));
    if (arms[0].unavailable.empty()) interleave("footprint", arms, fp, cfg.fp_runs, spec);
    else progress("footprint A/B skipped: " + arms[0].unavailable);
  }

  // Cgroup (issue 13): three targets moved into a fresh cgroup v2 per run,
  // the waiter on that cgroup; kill to return, interleaved like latency.
  std::vector<WaiterDef> cgw = make_cgroup_waiters(cfg.pwait, cfg.minimal);
  std::vector<Summary> cgs(cgw.size());
  std::vector<std::vector<double>> cg_after(cgw.size());  // return minus the reaper's last reap, per run
  std::string cg_loadavg;
  constexpr std::size_t kCgroupTargets = 3;
  if (has_row(cfg, "cgroup")) {
    cgroup_setup();
    for (const auto& w : cgw)
      if (!w.unavailable.empty()) progress("cgroup row: " + w.name + " skipped: " + w.unavailable);
    if (g_cg.dir.empty()) {
      progress("cgroup row skipped: " + g_cg.why);
    } else {
      cg_loadavg = first_line(slurp("/proc/loadavg"));
      RunSpec spec;
      spec.after_start = targets_into_cgroup;
      for (int run = 0; run < cfg.cgroup_runs; ++run) {
        if (run % 25 == 0) progress(fmt("cgroup run %d/%d", run + 1, cfg.cgroup_runs));
        for (std::size_t k = 0; k < cgw.size(); ++k) {
          std::size_t i = (k + static_cast<std::size_t>(run)) % cgw.size();
          if (!cgw[i].unavailable.empty() || (cgs[i].lat.empty() && cgs[i].lat_fail.size() >= 3)) continue;
          RunResult r = run_once(cgw[i], kCgroupTargets, spec);
          std::string dir = g_cg.dir + fmt("/run-%d", g_cg.next - 1);
          if (!rmdir_cgroup(dir) && r.ok) {
            r.ok = false;
            r.fail = fmt("rmdir %s: %s", dir.c_str(), std::strerror(errno));
          }
          record("cgroup", cgw[i], kCgroupTargets, run, r);
          if (r.ok) {
            cgs[i].lat.push_back(static_cast<double>(r.t_return));
            cgs[i].cpu.push_back(static_cast<double>(r.cpu));
            cgs[i].rss_kb = std::max(cgs[i].rss_kb, r.maxrss_kb);
            if (r.t_floor > 0) cg_after[i].push_back(static_cast<double>(r.t_return - r.t_floor));
          } else {
            cgs[i].lat_fail.push_back(r.fail);
          }
        }
      }
      cgroup_cleanup();
    }
  }

  // CPU while waiting: one target, a long quiet window after settling.
  if (has_row(cfg, "idle")) {
    progress("idle CPU");
    RunSpec spec;
    spec.settle_min = 500'000'000;
    spec.settle_jitter = 0;
    spec.idle_window = cfg.idle_window;
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty()) continue;
      RunResult r = run_once(waiters[i], 1, spec);
      record("idle", waiters[i], 1, 0, r);
      if (r.idle_frac >= 0) sum[i].idle = r.idle_frac;
      else sum[i].idle_fail = r.fail;
    }
  }

  // Busy machine (issue 15): one target; once the waiter has settled, a
  // bounded storm of unrelated exits. The waiter's CPU and wake-ups are read
  // over the storm's first four fifths, then the target is killed while the
  // last fifth still runs: the wake-up latency is under that load, and a
  // waiter that lost the target's exit in the storm never returns.
  if (has_row(cfg, "busy")) {
    std::int64_t mark = cfg.storm - cfg.storm / 5;
    RunSpec spec;
    spec.deadline = 10'000'000'000;
    for (int run = 0; run < cfg.busy_runs; ++run) {
      progress(fmt("busy machine run %d/%d (%ld unrelated exits per waiter)", run + 1, cfg.busy_runs, cfg.storm));
      for (std::size_t k = 0; k < waiters.size(); ++k) {
        std::size_t i = (k + static_cast<std::size_t>(run)) % waiters.size();
        const WaiterDef& w = waiters[i];
        auto& prior = sum[i].busy;
        if (!w.unavailable.empty() ||
            (prior.size() >= 2 && std::none_of(prior.begin(), prior.end(), [](auto& r) { return r.window.ns > 0; })))
          continue;
        Storm storm;
        spec.before_kill = [&](pid_t wp, int wfd, RunResult& r) -> std::string {
          auto& win = r.window;
          Ns c0 = waiter_cpu(wp), t0 = now_ns();
          long v0 = waiter_wakeups(wp), d0 = netlink_drops(wp), f0 = machine_forks();
          storm.start(cfg.storm, mark);
          pollfd p[2] = {{wfd, POLLIN, 0}, {storm.report, POLLIN, 0}};
          while (poll(p, 2, 120'000) < 0)
            if (errno != EINTR) die("poll storm");
          if (p[0].revents) return "returned during the storm, before the kill";
          if (!p[1].revents) return "the storm did not reach its mark in 120 s";
          std::optional<Storm::Report> at = storm.next();
          if (!at) return "the storm died";
          long f1 = machine_forks(), d1 = netlink_drops(wp), v1 = waiter_wakeups(wp);
          Ns c1 = waiter_cpu(wp);
          win.ns = now_ns() - t0;
          win.cpu = c1 - c0;
          win.storm_exits = static_cast<long>(at->exits);
          win.machine_exits = f1 - f0;
          win.wakeups = v1 - v0;
          win.drops = d0 >= 0 && d1 >= 0 ? d1 - d0 : -1;
          if (at->exits < mark) return fmt("the storm stopped after %lld exits", static_cast<long long>(at->exits));
          return "";
        };
        RunResult r = run_once(w, 1, spec);
        if (storm.pid > 0) storm.finish();
        record("busy", w, 1, run, r);
        prior.push_back(r);
      }
    }
  }

  // Scaling: N targets killed at once; time to return against the floor.
  std::map<std::size_t, std::vector<double>> floors;  // with no waiter running
  std::map<std::size_t, std::vector<double>> inrun;   // the reaper's time while a waiter ran
  auto floor_of = [&](std::size_t n) { return quantile(floors[n], 0.5); };
  if (has_row(cfg, "scaling")) {
    for (std::size_t n : cfg.sizes) {
      int reps = n >= 10000 ? std::max(1, cfg.reps) : std::max(cfg.reps, n <= 100 ? 5 : 3);
      if (cfg.quick) reps = cfg.reps;
      progress(fmt("scaling: %zu targets x %d", n, reps));
      RunSpec spec;
      spec.settle_min = 200'000'000;
      spec.deadline = 60'000'000'000;
      // The floor swings by 2-3x within minutes on a shared machine: it is
      // measured before and after each round of waiters.
      auto measure_floor = [&](int rep) {
        Ns fl = floor_once(n, spec.settle_min);
        if (fl > 0) floors[n].push_back(static_cast<double>(fl));
        std::fprintf(raw, "floor\tnone\t%zu\t%d\t%d\t-1\t%lld\t-1\t-1\t-1\t-1\t-1\t-1\t-1\t-1\t-1\t-1\t\n", n, rep, fl > 0 ? 1 : 0,
                     static_cast<long long>(fl));
      };
      for (int rep = 0; rep < reps; ++rep) {
        if (rep == 0) measure_floor(rep);
        for (std::size_t k = 0; k < waiters.size(); ++k) {
          std::size_t i = (k + static_cast<std::size_t>(rep)) % waiters.size();
          const WaiterDef& w = waiters[i];
          if (!w.unavailable.empty() || w.key == "minimal2") continue;  // the control is for latency
          auto& prior = sum[i].scale[n];
          // Do not repeat a failure that comes from the limits, not from noise.
          if (!prior.empty() && std::none_of(prior.begin(), prior.end(), [](auto& r) { return r.ok; }) &&
              prior.back().fail.find("returned before the kill") != std::string::npos)
            continue;
          RunResult r = run_once(w, n, spec);
          record("scaling", w, n, rep, r);
          if (r.t_floor > 0) inrun[n].push_back(static_cast<double>(r.t_floor));
          prior.push_back(r);
        }
        measure_floor(rep);
      }
    }
  }

  Ns bench_end = now_ns();
  std::fclose(raw);

  // ------------------------------------------------------------- report
  const Summary& base = sum[0];  // the minimal waiter
  double base_med = quantile(base.lat, 0.5), base_p90 = quantile(base.lat, 0.9), base_p99 = quantile(base.lat, 0.99);
  double base_cpu = quantile(base.cpu, 0.5);
  double true_med = quantile(true_times, 0.5);
  std::size_t big1 = 10000, big2 = 20000;
  std::vector<BusyStats> busy(waiters.size());
  for (std::size_t i = 0; i < waiters.size(); ++i) busy[i] = busy_stats(sum[i].busy);
  double busy_base = quantile(busy[0].lat, 0.5);  // the minimal waiter's latency under the storm
  // The busy row's two cells: CPU per 1,000 exits on the machine (the minimal
  // waiter's is the floor), and latency under the storm against the minimal
  // waiter's in the same storms.
  auto busy_cells = [&](std::size_t i) -> std::pair<std::string, std::string> {
    const BusyStats& b = busy[i];
    if (!has_row(cfg, "busy") || b.runs == 0) return {"-", "-"};
    std::string cpu = b.windows == 0 ? "**failed**: " + b.fail : human_ns(b.cpu_per_k);
    if (b.lost > 0) cpu += fmt(" (**lost the exit** in %zu of %zu)", b.lost, b.runs);
    std::string lat = b.lat.empty() ? "**failed**: " + b.fail : ratio(quantile(b.lat, 0.5), busy_base);
    if (!b.lat.empty() && b.failed > 0) lat += fmt(" (%zu failed)", b.failed);
    return {cpu, lat};
  };

  std::string md;
  md += "| waiter | latency median | p90 | p99 | CPU per wait | CPU while waiting | peak RSS (1 target) | 10,000 targets | 20,000 targets | busy: CPU per 1,000 exits | busy: latency | start-up (gone PID) |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    const auto& w = waiters[i];
    const auto& s = sum[i];
    if (!w.unavailable.empty()) {
      // Visible in every column it could not serve, the big rows too.
      md += "| " + w.name + " | **" + w.unavailable + "** | - | - | - | - | - | **failed**: unavailable | **failed**: "
            "unavailable | **failed**: unavailable | - | - |\n";
      continue;
    }
    std::string lat, p90, p99, cpu;
    if (s.lat.empty()) {
      lat = has_row(cfg, "latency") ? "**failed**: " + (s.lat_fail.empty() ? "" : s.lat_fail[0]) : "-";
      p90 = p99 = cpu = "";
    } else {
      lat = ratio(quantile(s.lat, 0.5), base_med);
      p90 = ratio(quantile(s.lat, 0.9), base_p90);
      p99 = ratio(quantile(s.lat, 0.99), base_p99);
      cpu = ratio(quantile(s.cpu, 0.5), base_cpu);
      if (!s.lat_fail.empty()) lat += fmt(" (%zu failed)", s.lat_fail.size());
    }
    std::string idle = !std::isnan(s.idle) ? fmt("%.2f%%", s.idle * 100) : s.idle_fail.empty() ? "-" : "**failed**";
    auto cell = [&](std::size_t n) {
      auto it = s.scale.find(n);
      return it == s.scale.end() ? std::string("-") : scale_cell(it->second, floor_of(n), true);
    };
    md += "| " + w.name + " | " + lat + " | " + p90 + " | " + p99 + " | " + cpu + " | " + idle + " | " +
          mib(static_cast<double>(s.rss_kb)) + " | " + cell(big1) + " | " + cell(big2) + " | " + busy_cells(i).first +
          " | " + busy_cells(i).second + " | " + ratio(s.start_med, true_med) + " |\n";
  }
  std::string headline = md;

  // Details, with the absolute figures behind the ratios (context, not claims).
  std::string det;
  det += "### Wake-up latency (1 target; kill to the waiter's return)\n\n";
  det += fmt("%d runs per waiter, interleaved. Ratios are to the minimal waiter's same percentile in this run.\n\n", cfg.runs);
  det += "| waiter | runs ok | median | p90 | p99 | CPU per wait | peak RSS | RSS while waiting | failures |\n"
         "|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    const auto& s = sum[i];
    if (!waiters[i].unavailable.empty()) continue;
    det += fmt("| %s | %zu | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s | %s | %s |\n", waiters[i].name.c_str(),
               s.lat.size(), human_ns(quantile(s.lat, 0.5)).c_str(), ratio(quantile(s.lat, 0.5), base_med).c_str(),
               human_ns(quantile(s.lat, 0.9)).c_str(), ratio(quantile(s.lat, 0.9), base_p90).c_str(),
               human_ns(quantile(s.lat, 0.99)).c_str(), ratio(quantile(s.lat, 0.99), base_p99).c_str(),
               human_ns(quantile(s.cpu, 0.5)).c_str(), ratio(quantile(s.cpu, 0.5), base_cpu).c_str(),
               mib(static_cast<double>(s.rss_kb)).c_str(), mib(quantile(s.idle_rss, 0.5)).c_str(),
               s.lat_fail.empty() ? "" : fmt("%zu: %s", s.lat_fail.size(), s.lat_fail[0].c_str()).c_str());
  }

  // Footprint A/B (issue 9). A difference counts only where the intervals of
  // B/A and of the control A'/A do not overlap.
  std::string footprint;
  if (has_row(cfg, "footprint")) {
    footprint += "### Footprint A/B (issue 9): pwait's page shedding on and off\n\n";
    if (!arms[0].unavailable.empty()) {
      footprint += "**not run**: " + arms[0].unavailable + "\n";
    } else {
      footprint += fmt(
          "The same pwait binary (backend auto, one target), %d runs per arm, interleaved in rotating order. "
          "A: under `seccomp_errno acct=EPERM` (shedding on; a filter of the same length on a call pwait never "
          "makes). B: under `seccomp_errno madvise=EPERM` (shedding off: its madvise calls fail and nothing is "
          "shed). A': A again, the noise control. RSS while waiting is VmRSS of the settled, sleeping pwait just "
          "before the kill: B's shows that it shed nothing, A's that it did. Ratios are to A.\n\n",
          cfg.fp_runs);
      footprint += "| arm | runs ok | RSS while waiting | latency median | p90 | p99 | CPU per wait | peak RSS | failures |\n"
                   "|---|---|---|---|---|---|---|---|---|\n";
      const Summary& a = fp[0];
      for (std::size_t i = 0; i < arms.size(); ++i) {
        const Summary& s = fp[i];
        footprint += fmt("| %s | %zu | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s | %s |\n", arms[i].name.c_str(),
                         s.lat.size(), mib(quantile(s.idle_rss, 0.5)).c_str(),
                         ratio(quantile(s.idle_rss, 0.5), quantile(a.idle_rss, 0.5)).c_str(),
                         human_ns(quantile(s.lat, 0.5)).c_str(), ratio(quantile(s.lat, 0.5), quantile(a.lat, 0.5)).c_str(),
                         human_ns(quantile(s.lat, 0.9)).c_str(), ratio(quantile(s.lat, 0.9), quantile(a.lat, 0.9)).c_str(),
                         human_ns(quantile(s.lat, 0.99)).c_str(),
                         ratio(quantile(s.lat, 0.99), quantile(a.lat, 0.99)).c_str(),
                         human_ns(quantile(s.cpu, 0.5)).c_str(), ratio(quantile(s.cpu, 0.5), quantile(a.cpu, 0.5)).c_str(),
                         mib(static_cast<double>(s.rss_kb)).c_str(),
                         s.lat_fail.empty() ? "" : fmt("%zu: %s", s.lat_fail.size(), s.lat_fail[0].c_str()).c_str());
      }
      footprint += "\n| figure | B/A: shedding off ÷ on [95% interval] | A'/A: noise control [95% interval] | reading |\n"
                   "|---|---|---|---|\n";
      auto reading = [](std::pair<double, double> ib, std::pair<double, double> ic) -> std::string {
        return std::isnan(ib.first) || std::isnan(ic.first) ? "not enough runs"
               : ib.first > ic.second ? "**B higher than A beyond the noise**: shedding lowers it"
               : ib.second < ic.first ? "**B lower than A beyond the noise**: shedding raises it"
                                      : "within the noise";
      };
      auto compare = [&](const char* what, const std::vector<double> Summary::*field, double q) {
        const auto& x = fp[0].*field;
        const auto& b = fp[1].*field;
        const auto& c = fp[2].*field;
        double rb = quantile(b, q) / quantile(x, q), rc = quantile(c, q) / quantile(x, q);
        auto ib = ratio_interval(b, x, q), ic = ratio_interval(c, x, q);
        footprint += fmt("| %s | %.3f× [%.3f–%.3f] | %.3f× [%.3f–%.3f] | %s |\n", what, rb, ib.first, ib.second, rc,
                         ic.first, ic.second, reading(ib, ic).c_str());
      };
      compare("latency median", &Summary::lat, 0.5);
      compare("latency p90", &Summary::lat, 0.9);
      compare("latency p99", &Summary::lat, 0.99);
      compare("CPU per wait (median)", &Summary::cpu, 0.5);
      compare("RSS while waiting (median)", &Summary::idle_rss, 0.5);
      // Paired: the three arms of one run ran within a second or so of each
      // other, so B's and A''s ratio to A in the same run cancels the
      // machine's slower drift.
      auto paired = [&](const char* what, double std::pair<double, double>::*field) {
        std::vector<double> b, c;
        for (const auto& [run, a] : fp[0].by_run) {
          auto ob = fp[1].by_run.find(run), oc = fp[2].by_run.find(run);
          if (ob == fp[1].by_run.end() || oc == fp[2].by_run.end()) continue;
          b.push_back(ob->second.*field / a.*field);
          c.push_back(oc->second.*field / a.*field);
        }
        auto ib = quantile_interval(b, 0.5), ic = quantile_interval(c, 0.5);
        footprint += fmt("| %s, paired (median of per-run ratios, %zu runs) | %.3f× [%.3f–%.3f] | %.3f× [%.3f–%.3f] | %s |\n",
                         what, b.size(), quantile(b, 0.5), ib.first, ib.second, quantile(c, 0.5), ic.first, ic.second,
                         reading(ib, ic).c_str());
      };
      paired("latency", &std::pair<double, double>::first);
      paired("CPU per wait", &std::pair<double, double>::second);
      footprint += "\nIntervals: 2,000 bootstrap resamples of each arm (paired: of the per-run ratios). \"Beyond the "
                   "noise\" only where the intervals of B/A and A'/A do not overlap. The load average when the A/B "
                   "began: " + fp_loadavg + "; at the end of the benchmark: " + first_line(slurp("/proc/loadavg")) + ".\n";
    }
    det += "\n" + footprint;
  }
  if (has_row(cfg, "idle")) {
    det += fmt("\n### CPU while waiting (1 target, %.1f s window after settling; share of one core)\n\n",
               static_cast<double>(cfg.idle_window) / 1e9);
    det += "| waiter | CPU while waiting |\n|---|---|\n";
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty()) continue;
      const auto& s = sum[i];
      det += "| " + waiters[i].name + " | " +
             (!std::isnan(s.idle) ? fmt("%.3f%%", s.idle * 100) : "failed: " + s.idle_fail) + " |\n";
    }
  }
  if (has_row(cfg, "busy")) {
    det += fmt("\n### Busy machine: one target while %ld unrelated processes start and end (%d runs per waiter)\n\n",
               cfg.storm, cfg.busy_runs);
    std::vector<double> rate, ours;
    for (const auto& b : busy)
      if (!std::isnan(b.exits_per_s)) rate.push_back(b.exits_per_s), ours.push_back(b.storm_share);
    det += fmt(
        "Once the waiter has settled, a child of the harness vforks %ld children one at a time, each `_exit`s at "
        "once and is reaped at once. Over the first %ld of them the harness reads the waiter's CPU "
        "(/proc/PID/schedstat), its wake-ups (voluntary context switches) and, for a netlink socket, the "
        "messages the kernel dropped for it (/proc/net/netlink); then it kills the target while the rest of the storm "
        "runs and times the return. Exits are counted on the whole machine (/proc/stat `processes`), since a proc "
        "connector listener pays for everyone's: %s per second during the storms (median), %.0f%% of them the "
        "storm's. A waiter that does not return within 10 s of the kill has **lost the exit**. Latency ratios are to "
        "the minimal waiter's median in the same storms; the minimal waiter's CPU per 1,000 exits is the floor.\n\n",
        cfg.storm, static_cast<long>(cfg.storm - cfg.storm / 5), human_count(quantile(rate, 0.5)).c_str(),
        quantile(ours, 0.5) * 100);
    det += "| waiter | runs | CPU per 1,000 exits | per exit | wake-ups per 1,000 exits | share of a core in the storm | "
           "netlink drops | latency under the storm | worst | exit lost | failures |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty()) continue;
      const BusyStats& b = busy[i];
      double med = quantile(b.lat, 0.5);
      det += fmt("| %s | %zu | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s |\n", waiters[i].name.c_str(), b.runs,
                 human_ns(b.cpu_per_k).c_str(), std::isnan(b.cpu_per_k) ? "-" : fmt("%.2f µs", b.cpu_per_k / 1e6).c_str(),
                 std::isnan(b.wake_per_k) ? "-" : fmt("%.1f", b.wake_per_k).c_str(),
                 std::isnan(b.share) ? "-" : fmt("%.1f%%", b.share * 100).c_str(),
                 b.drops < 0 ? "-" : fmt("%ld", b.drops).c_str(), human_ns(med).c_str(), ratio(med, busy_base).c_str(),
                 human_ns(b.lat.empty() ? NAN : *std::max_element(b.lat.begin(), b.lat.end())).c_str(),
                 fmt("%zu of %zu", b.lost, b.runs).c_str(),
                 b.failed == 0 ? "" : fmt("%zu: %s", b.failed, b.fail.c_str()).c_str());
    }
  }
  if (has_row(cfg, "scaling")) {
    det += "\n### Scaling: N targets killed at once (soft RLIMIT_NOFILE 1024 for every waiter)\n\n";
    det += "Each cell: the waiter's median time to return after the kill, as a ratio to the floor: the time the "
           "targets' own parent needs to reap them all, measured in the same run with no waiter running, before and after each round of waiters (a waiter "
           "that burns CPU while 10,000 targets exit slows their exits too, so the reap time in its own run is no "
           "floor); in brackets the ratio to the parent's reap in the waiter's own run; then the waiter's peak RSS.\n\n";
    det += "| waiter |";
    for (auto n : cfg.sizes) det += fmt(" %zu |", n);
    det += "\n|---|";
    for (std::size_t k = 0; k < cfg.sizes.size(); ++k) det += "---|";
    det += "\n| *floor: parent reaps all, no waiter (median)* |";
    for (auto n : cfg.sizes) det += " *" + human_ns(quantile(floors[n], 0.5)) + "* |";
    det += "\n| *parent's reap while a waiter ran (median)* |";
    for (auto n : cfg.sizes) det += " *" + human_ns(quantile(inrun[n], 0.5)) + "* |";
    det += "\n";
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty()) continue;
      det += "| " + waiters[i].name + " |";
      for (auto n : cfg.sizes) {
        auto it = sum[i].scale.find(n);
        det += " " + (it == sum[i].scale.end() ? std::string("-") : scale_cell(it->second, floor_of(n), true, true)) + " |";
      }
      det += "\n";
    }
    // CPU per wait at each size (issue 15: ptrace's within 3x of pidfd's).
    std::size_t pidfd_i = waiters.size();
    for (std::size_t i = 0; i < waiters.size(); ++i)
      if (waiters[i].key == "pwait-pidfd") pidfd_i = i;
    auto cpu_med = [&](std::size_t i, std::size_t n) {
      std::vector<double> c;
      auto it = sum[i].scale.find(n);
      if (it != sum[i].scale.end())
        for (const auto& r : it->second)
          if (r.ok) c.push_back(static_cast<double>(r.cpu));
      return quantile(c, 0.5);
    };
    det += "\nCPU per wait in the runs above (median of the runs that returned correctly), and its ratio to "
           "`pwait --backend pidfd` at the same size:\n\n| waiter |";
    for (auto n : cfg.sizes) det += fmt(" %zu |", n);
    det += "\n|---|";
    for (std::size_t k = 0; k < cfg.sizes.size(); ++k) det += "---|";
    det += "\n";
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty() || waiters[i].key == "minimal2") continue;
      det += "| " + waiters[i].name + " |";
      for (auto n : cfg.sizes) {
        double c = cpu_med(i, n);
        det += " " + human_ns(c) +
               (pidfd_i < waiters.size() && !std::isnan(c) ? " (" + ratio(c, cpu_med(pidfd_i, n)) + ")" : "") + " |";
      }
      det += "\n";
    }
  }
  if (has_row(cfg, "startup")) {
    det += fmt("\n### Start-up: the waiter on a PID that is already gone, against `true` (median of up to %d runs)\n\n",
               cfg.start_runs);
    det += fmt("`true`: %s.\n\n| waiter | start-up | ratio to `true` | exit code, runs |\n|---|---|---|---|\n",
               human_ns(true_med).c_str());
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (!waiters[i].unavailable.empty()) continue;
      det += "| " + waiters[i].name + " | " + human_ns(sum[i].start_med) + " | " + ratio(sum[i].start_med, true_med) +
             " | " + sum[i].start_note + " |\n";
    }
  }

  // Goals (issue 5), for pwait as users run it (backend auto).
  std::string goals = "### Goals (pwait, backend auto, unless named)\n\n| goal | measured | met |\n|---|---|---|\n";
  std::string* goals_into = &goals;
  auto goal = [&](const std::string& what, double value, double limit, const std::string& shown) {
    bool met = !std::isnan(value) && value <= limit;
    *goals_into += "| " + what + " | " + (std::isnan(value) ? "-" : shown) + " | " +
                   (std::isnan(value) ? "not measured" : met ? "yes" : "**no**") + " |\n";
  };
  std::size_t pw = 1, poll_i = 3;
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    if (waiters[i].key == "pwait") pw = i;
    if (waiters[i].key == "pwait-poll") poll_i = i;
  }
  if (pw < waiters.size() && waiters[pw].key == "pwait") {
    const auto& s = sum[pw];
    double m = quantile(s.lat, 0.5) / base_med, p = quantile(s.lat, 0.99) / base_p99,
           c = quantile(s.cpu, 0.5) / base_cpu;
    goal("latency median ≤ 1.10× minimal", m, 1.10, fmt("%.2f×", m));
    goal("latency p99 ≤ 1.5× minimal", p, 1.5, fmt("%.2f×", p));
    goal("CPU per wait ≤ 1.5× minimal", c, 1.5, fmt("%.2f×", c));
    if (poll_i < waiters.size() && waiters[poll_i].key == "pwait-poll")
      goal("poll backend < 1% of a core while waiting", sum[poll_i].idle * 100, 0.999999,
           fmt("%.3f%%", sum[poll_i].idle * 100));
    for (std::size_t n : {big1, big2}) {
      auto it = s.scale.find(n);
      if (it == s.scale.end()) continue;
      std::vector<double> ratios;
      long rss = -1;
      std::string fail;
      for (const auto& r : it->second) {
        if (r.ok) {
          ratios.push_back(static_cast<double>(r.t_return) / floor_of(n));
          rss = std::max(rss, r.maxrss_kb);
        } else if (fail.empty()) {
          fail = r.fail;
        }
      }
      double q = quantile(ratios, 0.5);
      goal(fmt("%zu targets: return ≤ 1.2× floor", n), ratios.empty() ? 1e9 : q, 1.2,
           ratios.empty() ? "failed: " + fail : fmt("%.2f×", q));
      goal(fmt("%zu targets: peak RSS < 4 MiB", n), rss < 0 ? 1e9 : static_cast<double>(rss) / 1024.0, 3.99999,
           rss < 0 ? "failed" : mib(static_cast<double>(rss)));
    }
    double su = s.start_med / true_med;
    goal("start-up on a gone PID ≤ 2× `true`", su, 2.0, fmt("%.2f×", su));
  }

  // Issue 15's goals: every backend at the kernel's limit, on a busy machine too.
  std::string goals15 = "### Goals of issue 15 (every backend, busy machine)\n\n| goal | measured | met |\n|---|---|---|\n";
  {
    goals_into = &goals15;
    auto find = [&](const std::string& key) {
      for (std::size_t i = 0; i < waiters.size(); ++i)
        if (waiters[i].key == key && waiters[i].unavailable.empty()) return i;
      return waiters.size();
    };
    std::size_t nl = find("pwait-netlink");
    if (has_row(cfg, "busy") && nl < waiters.size()) {
      const BusyStats& b = busy[nl];
      double per_exit = b.cpu_per_k / 1e6;
      goal("netlink: ≤ 2 µs of CPU per unrelated exit (busy machine)", per_exit, 2.0,
           b.windows == 0 ? "failed: " + b.fail
                          : fmt("%.2f µs%s", per_exit, b.drops > 0 ? fmt(" (%ld messages dropped)", b.drops).c_str() : ""));
      goal("netlink: no target exit lost under the storm", b.runs == 0 ? NAN : static_cast<double>(b.lost), 0,
           fmt("lost in %zu of %zu runs", b.lost, b.runs));
    }
    for (std::string key : {"pwait-pidfd", "pwait-poll", "pwait-netlink", "pwait-ptrace"}) {
      std::size_t i = find(key);
      auto it = i < waiters.size() ? sum[i].scale.find(big1) : sum[0].scale.end();
      if (i == waiters.size() || it == sum[i].scale.end()) continue;
      std::vector<double> ratios;
      std::string fail;
      for (const auto& r : it->second) {
        if (r.ok) ratios.push_back(static_cast<double>(r.t_return) / floor_of(big1));
        else if (fail.empty()) fail = r.fail;
      }
      double q = quantile(ratios, 0.5);
      goal(waiters[i].name + fmt(": %zu targets ≤ 1.3× floor", big1), ratios.empty() ? 1e9 : q, 1.3,
           ratios.empty() ? "failed: " + fail : fmt("%.2f×", q));
    }
    std::size_t pt = find("pwait-ptrace"), pf = find("pwait-pidfd");
    if (pt < waiters.size() && pf < waiters.size() && sum[pt].scale.count(big1) && sum[pf].scale.count(big1)) {
      auto med = [&](std::size_t i) {
        std::vector<double> c;
        for (const auto& r : sum[i].scale[big1])
          if (r.ok) c.push_back(static_cast<double>(r.cpu));
        return quantile(c, 0.5);
      };
      double x = med(pt) / med(pf);
      goal(fmt("ptrace: CPU at %zu targets ≤ 3× pidfd's", big1), std::isnan(x) ? 1e9 : x, 3.0,
           std::isnan(x) ? "failed" : fmt("%.2f×", x));
    }
    std::size_t po = find("pwait-poll");
    if (po < waiters.size() && !sum[po].lat.empty()) {
      double m = quantile(sum[po].lat, 0.5) / 1e6;
      goal("poll: 1-target median wake-up < 25 ms (absolute, so machine-dependent)", m, 24.999, fmt("%.1f ms", m));
    }
  }

  // Cgroup (issue 13): ratios to pwait --cgroup.
  std::string cgsec;
  if (has_row(cfg, "cgroup")) {
    cgsec += "### Cgroup (issue 13): the last process of a cgroup ends, to the waiter's return\n\n";
    if (g_cg.why.size()) {
      cgsec += "**not run**: " + g_cg.why + "\n";
    } else {
      cgsec += fmt(
          "Per run, %zu targets (children of the reaper, not of the waiter) are moved into a fresh cgroup below "
          "the cgroup2 mount; the waiter waits for that cgroup, settles, and one `kill(-pgid, SIGKILL)` ends the "
          "targets: the time is from the kill to the waiter's return, as in the latency row. %d runs per waiter, "
          "interleaved in rotating order; the cgroup is removed after each run. Ratios are to `pwait --cgroup`'s "
          "same percentile. The minimal waiter waits for the same targets by PID, for context. \"After the last "
          "reap\": the median of the return minus the moment the reaper reaped the last target, per run. Load "
          "average when the row began: %s.\n\n",
          kCgroupTargets, cfg.cgroup_runs, cg_loadavg.c_str());
      cgsec += "| waiter | runs ok | median | p90 | p99 | after the last reap | CPU per wait | peak RSS | failures |\n"
               "|---|---|---|---|---|---|---|---|---|\n";
      const Summary& b = cgs[0];
      for (std::size_t i = 0; i < cgw.size(); ++i) {
        const Summary& s = cgs[i];
        if (!cgw[i].unavailable.empty()) {
          cgsec += "| " + cgw[i].name + " | - | - | - | - | - | - | - | not run: " + cgw[i].unavailable + " |\n";
          continue;
        }
        double after = quantile(cg_after[i], 0.5);
        cgsec += fmt("| %s | %zu | %s (%s) | %s (%s) | %s (%s) | %s%s | %s (%s) | %s | %s |\n", cgw[i].name.c_str(),
                     s.lat.size(), human_ns(quantile(s.lat, 0.5)).c_str(), ratio(quantile(s.lat, 0.5), quantile(b.lat, 0.5)).c_str(),
                     human_ns(quantile(s.lat, 0.9)).c_str(), ratio(quantile(s.lat, 0.9), quantile(b.lat, 0.9)).c_str(),
                     human_ns(quantile(s.lat, 0.99)).c_str(), ratio(quantile(s.lat, 0.99), quantile(b.lat, 0.99)).c_str(),
                     after < 0 ? "-" : "", human_ns(std::fabs(after)).c_str(),
                     human_ns(quantile(s.cpu, 0.5)).c_str(), ratio(quantile(s.cpu, 0.5), quantile(b.cpu, 0.5)).c_str(),
                     mib(static_cast<double>(s.rss_kb)).c_str(),
                     s.lat_fail.empty() ? "" : fmt("%zu: %s", s.lat_fail.size(), s.lat_fail[0].c_str()).c_str());
      }
    }
  }
  if (!cgsec.empty()) det += "\n" + cgsec;

  std::fputs(headline.c_str(), stdout);
  std::fputs("\n", stdout);
  std::fputs(goals.c_str(), stdout);
  std::fputs("\n", stdout);
  std::fputs(goals15.c_str(), stdout);
  if (!footprint.empty()) std::fputs(("\n" + footprint).c_str(), stdout);
  if (!cgsec.empty()) std::fputs(("\n" + cgsec).c_str(), stdout);

  // RESULTS.md: machine, headline, goals, details, how each waiter ran.
  utsname u{};
  uname(&u);
  std::string cpu = run_capture("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
  std::string res;
  res += "# pwait benchmark results\n\n";
  res += "Produced by `bench/run" + std::string(cfg.quick ? " --quick" : "") + "` (bench/harness.cc). ";
  res += "Every claim is a ratio to a yardstick measured in the same run: the minimal pidfd + poll waiter "
         "(latency, CPU), the targets' own parent reaping them (scaling), or `true` (start-up). "
         "Bare times are shown for context only: the machine is shared and noisy.\n\n";
  res += "## Machine\n\n";
  res += fmt("- Date: %s\n", run_capture("date -u '+%Y-%m-%d %H:%M UTC'").c_str());
  res += fmt("- Kernel: %s %s %s\n", u.sysname, u.release, u.machine);
  res += fmt("- CPU: %s, %ld online cores (shared with other work while this ran)\n", cpu.c_str(),
             sysconf(_SC_NPROCESSORS_ONLN));
  res += fmt("- Load average at start / end: %s / %s\n", loadavg_start.c_str(), first_line(slurp("/proc/loadavg")).c_str());
  res += fmt("- pid_max %s; RLIMIT_NOFILE of the waiters: soft 1024, hard %llu\n",
             first_line(slurp("/proc/sys/kernel/pid_max")).c_str(),
             static_cast<unsigned long long>(g_orig_nofile.rlim_max));
  res += fmt("- pwait: %s (git %s)\n", first_line(run_capture("'" + cfg.pwait + "' --version")).c_str(),
             run_capture("git -C \"$(dirname '" + cfg.pwait + "')\" rev-parse --short HEAD").c_str());
  res += fmt("- procps %s, coreutils %s, strace %s, dash %s\n",
             run_capture("dpkg-query -W -f='${Version}' procps").c_str(),
             run_capture("dpkg-query -W -f='${Version}' coreutils").c_str(),
             run_capture("dpkg-query -W -f='${Version}' strace").c_str(),
             run_capture("dpkg-query -W -f='${Version}' dash").c_str());
  res += fmt("- Run: %d latency runs per waiter; %d footprint A/B runs per arm; %d cgroup runs per waiter; "
             "%d busy-machine runs per waiter of "
             "%ld unrelated exits each; scaling runs per waiter and size: %d at 10,000+ targets, 3 at 1,000, "
             "5 below; up to %d start-up runs; "
             "took %.0f s\n\n",
             cfg.runs, cfg.fp_runs, cfg.cgroup_runs, cfg.busy_runs, cfg.storm, cfg.reps, cfg.start_runs,
             static_cast<double>(bench_end - bench_start) / 1e9);
  res += "## Headline\n\nLatency and CPU: ratio to the minimal waiter. Scaling: ratio to the floor (the targets' "
         "parent reaping them all), and peak RSS. Busy: the waiter's CPU per 1,000 exits on the machine while a "
         "storm of unrelated processes runs (the minimal waiter's is the floor), and its wake-up latency under that "
         "storm as a ratio to the minimal waiter's. Start-up: ratio to `true`.\n\n";
  res += headline + "\n" + goals + "\n" + goals15 + "\n## Details\n\n" + det;
  res += "\n![wake-up latency](latency.png)\n\n![time to return against targets](scaling.png)\n\n";
  res += "## How each waiter runs\n\n";
  for (const auto& w : waiters)
    res += "- **" + w.name + "**: `" + w.note + "`" + (w.unavailable.empty() ? "" : " — " + w.unavailable) + "\n";
  if (has_row(cfg, "footprint"))
    for (const auto& w : arms)
      res += "- footprint **" + w.name + "**: `" + w.note + "`" + (w.unavailable.empty() ? "" : " — " + w.unavailable) +
             "\n";
  if (has_row(cfg, "cgroup"))
    for (const auto& w : cgw)
      res += "- cgroup **" + w.name + "**: `" + w.note + "`" + (w.unavailable.empty() ? "" : " — " + w.unavailable) + "\n";
  res += "\nMethod: targets are forked by a reaper process (not the waiter) into their own process group and "
         "pause; the waiter is the harness's child, started with a soft RLIMIT_NOFILE of 1024; after it settles "
         "(CPU below 10% of a core for 100 ms, at least 100–200 ms with random jitter) the harness sends one "
         "`kill(-pgid, SIGKILL)` and times, on CLOCK_MONOTONIC, the waiter's end (its pidfd) and the reaper's "
         "last reap. The moment a waiter returns the harness checks its own pidfds of the targets: a waiter that "
         "returned while a target still ran fails the row. CPU and peak RSS come from wait4(); the forked child "
         "resets its RSS high-water mark (`/proc/self/clear_refs` 5) before exec so the harness's memory is not "
         "counted. RSS while waiting is the waiter's VmRSS just before the kill. CPU while waiting is "
         "/proc/PID/schedstat (plus reaped children's ticks) over the window. "
         "p99 over a few dozen runs is close to the maximum: read it as the tail, not as a precise percentile.\n";
  FILE* f = std::fopen((cfg.out + "/RESULTS.md").c_str(), "w");
  if (f) {
    std::fputs(res.c_str(), f);
    std::fclose(f);
  }

  // gnuplot data and scripts.
  {
    std::string lat_plot;
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      auto v = sum[i].lat;
      if (v.empty()) continue;
      std::sort(v.begin(), v.end());
      std::string file = cfg.out + "/lat-" + waiters[i].key + ".dat";
      FILE* d = std::fopen(file.c_str(), "w");
      for (std::size_t k = 0; k < v.size(); ++k)
        std::fprintf(d, "%.3f %.4f\n", v[k] / 1e3, static_cast<double>(k + 1) / static_cast<double>(v.size()));
      std::fclose(d);
      lat_plot += (lat_plot.empty() ? "plot " : ", \\\n     ") +
                  fmt("'lat-%s.dat' using 1:2 with steps %s title '%s'", waiters[i].key.c_str(),
                      style(waiters[i].key).c_str(), waiters[i].name.c_str());
    }
    FILE* g = std::fopen((cfg.out + "/latency.gp").c_str(), "w");
    std::fprintf(g,
                 "set terminal pngcairo size 900,520 font ',10'\nset output 'latency.png'\n"
                 "set title 'Wake-up latency, 1 target (CDF of %d runs; kill to return)'\n"
                 "set logscale x\nset xlabel 'latency (µs, log scale)'\nset ylabel 'fraction of runs'\n"
                 "set yrange [0:1.02]\nset grid\nset key outside right\n%s\n",
                 cfg.runs, lat_plot.c_str());
    std::fclose(g);

    FILE* d = std::fopen((cfg.out + "/scaling.dat").c_str(), "w");
    std::fprintf(d, "targets \"floor (reap all)\"");
    std::vector<std::size_t> cols;
    std::string scale_plot;
    for (std::size_t i = 0; i < waiters.size(); ++i)
      if (!sum[i].scale.empty()) {
        cols.push_back(i);
        scale_plot += fmt("%s     'scaling.dat' using 1:%zu with linespoints %s pt %zu title columnheader(%zu)",
                          scale_plot.empty() ? "" : ", \\\n", cols.size() + 2, style(waiters[i].key).c_str(),
                          cols.size() % 14 + 1, cols.size() + 2);
        std::fprintf(d, " \"%s\"", waiters[i].name.c_str());
      }
    std::fprintf(d, "\n");
    for (auto n : cfg.sizes) {
      std::fprintf(d, "%zu %.4f", n, quantile(floors[n], 0.5) / 1e6);
      for (auto i : cols) {
        std::vector<double> t;
        for (const auto& r : sum[i].scale[n])
          if (r.ok) t.push_back(static_cast<double>(r.t_return));
        std::fprintf(d, t.empty() ? " NaN" : " %.4f", quantile(t, 0.5) / 1e6);
      }
      std::fprintf(d, "\n");
    }
    std::fclose(d);
    g = std::fopen((cfg.out + "/scaling.gp").c_str(), "w");
    std::fprintf(g,
                 "set terminal pngcairo size 900,520 font ',10'\nset output 'scaling.png'\n"
                 "set title 'Time to return after N targets are killed at once (median; failed runs omitted)'\n"
                 "set logscale xy\nset xlabel 'targets (log scale)'\nset ylabel 'time to return (ms, log scale)'\n"
                 "set grid\nset key outside right\nset datafile missing 'NaN'\n"
                 "plot 'scaling.dat' using 1:2 with linespoints lw 3 dt 2 lc rgb 'black' title columnheader(2), \\\n"
                 "%s\n", scale_plot.c_str());
    std::fclose(g);
  }
  return 0;
}
