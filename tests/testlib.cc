#include "testlib.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" guard.
extern "C" {
#include <sys/pidfd.h>
}
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <condition_variable>
#include <exception>
#include <mutex>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

extern char** environ;

namespace pwait::testing {
namespace {

using Steady = std::chrono::steady_clock;

void make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + strerror(errno));
  r.reset(p[0]);
  w.reset(p[1]);
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

int ms_left(Steady::time_point until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Reads one '\n'-terminated line from fd (byte by byte, so nothing past the
// line is consumed). Throws DeadlineError when `until` passes first.
std::string read_line_until(int fd, Steady::time_point until, const char* what) {
  std::string line;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, ms_left(until));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) throw DeadlineError(std::string("deadline passed waiting for ") + what);
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("EOF waiting for ") + what);
    if (c == '\n') return line;
    line += c;
  }
}

// The wait status a parent's waitpid would report for this siginfo.
int status_of(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED: return (info.si_status & 0xff) << 8;
    case CLD_KILLED: return info.si_status & 0x7f;
    case CLD_DUMPED: return (info.si_status & 0x7f) | 0x80;
    default: return -1;
  }
}

[[noreturn]] void nursery_main(Body body, Reap reap, Fd in_r, Fd out_w, Fd report_w, Fd reap_r) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pid_t t = fork();
  if (t < 0) _exit(120);
  if (t == 0) {
    report_w.reset();
    reap_r.reset();
    // A process group of its own, whose parent (the nursery) is in another
    // group of the same session: never orphaned, so SIGTSTP stops it as at
    // a terminal, even when the tests run detached (setsid, CI).
    setpgid(0, 0);
    // A clean signal state for the target: nothing blocked or ignored.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    _exit(body(in_r.get(), out_w.get()));
  }
  in_r.reset();
  out_w.reset();
  write_all(report_w.get(), "pid " + std::to_string(t) + "\n");
  for (;;) {
    siginfo_t info{};
    if (waitid(P_PID, t, &info, WEXITED | WSTOPPED | WCONTINUED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      _exit(121);
    }
    if (info.si_code == CLD_STOPPED || info.si_code == CLD_CONTINUED) {
      // Consume the job-control event, as a shell would, and report it.
      siginfo_t used{};
      waitid(P_PID, t, &used, WSTOPPED | WCONTINUED);
      write_all(report_w.get(), info.si_code == CLD_STOPPED
                                    ? "stopped " + std::to_string(info.si_status) + "\n"
                                    : std::string("continued\n"));
      continue;
    }
    if (info.si_code == CLD_TRAPPED) continue;  // not ours to see; never happens for a non-tracer
    write_all(report_w.get(), "exited " + std::to_string(status_of(info)) + "\n");
    break;
  }
  if (reap == Reap::on_request) {
    char c;
    while (read(reap_r.get(), &c, 1) < 0 && errno == EINTR) {
    }
  }
  int status = 0;
  while (waitpid(t, &status, 0) < 0 && errno == EINTR) {
  }
  write_all(report_w.get(), "reaped " + std::to_string(status) + "\n");
  _exit(0);
}

struct LeaderArgs {
  pthread_t leader;
  int in, out;
};

void* exit_thread(void* arg) {
  auto* a = static_cast<LeaderArgs*>(arg);
  // Joining the main thread returns once the kernel has cleared its tid:
  // the leader is gone and only this thread keeps the process alive.
  pthread_join(a->leader, nullptr);
  write_all(a->out, "ready\n");
  char c = 0;
  ssize_t n;
  do n = read(a->in, &c, 1);
  while (n < 0 && errno == EINTR);
  _exit(n == 1 ? static_cast<unsigned char>(c) : 0);
}

void reap_child(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

int exit_on_command(int in, int) {
  char c = 0;
  ssize_t n;
  do n = read(in, &c, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? static_cast<unsigned char>(c) : 0;
}

int leader_exits_first(int in, int out) {
  static LeaderArgs args;
  args = {pthread_self(), in, out};
  pthread_t thread;
  if (pthread_create(&thread, nullptr, exit_thread, &args) != 0) return 99;
  // The raw exit(2) ends only this thread, like pthread_exit, but without
  // unwinding through the test framework's frames above us.
  syscall(SYS_exit, 0);
  return 98;
}

Target::Target(Body body, Reap reap) : reap_(reap) {
  Fd in_r, out_w, report_w, reap_r;
  make_pipe(in_r, in_);
  make_pipe(out_, out_w);
  make_pipe(report_, report_w);
  make_pipe(reap_r, reap_cmd_);
  nursery_ = fork();
  if (nursery_ < 0) throw std::runtime_error("fork failed");
  if (nursery_ == 0) {
    in_.reset();
    out_.reset();
    report_.reset();
    reap_cmd_.reset();
    nursery_main(std::move(body), reap, std::move(in_r), std::move(out_w), std::move(report_w),
                 std::move(reap_r));
  }
  std::string line = read_report(kDeadline);
  if (line.rfind("pid ", 0) != 0) throw std::runtime_error("nursery said: " + line);
  pid_ = std::stoi(line.substr(4));
}

Target::~Target() {
  if (!reaped_) {
    in_.reset();  // an exit_on_command target exits on EOF
    if (!exited_) ::kill(pid_, SIGCONT);
    reap_cmd_.reset();  // EOF: the nursery reaps now
  }
  reap_child(nursery_);
}

void Target::send(char byte) { write_all(in_.get(), std::string_view(&byte, 1)); }

void Target::kill(int sig) {
  if (reaped_) throw std::logic_error("kill after reap");
  if (::kill(pid_, sig) != 0) throw std::runtime_error(std::string("kill: ") + strerror(errno));
}

std::string Target::read_line(std::chrono::milliseconds deadline) {
  return read_line_until(out_.get(), Steady::now() + deadline, "a line from the target");
}

std::string Target::read_report(std::chrono::milliseconds deadline) {
  return read_line_until(report_.get(), Steady::now() + deadline, "the nursery");
}

int Target::wait_exited(std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  while (!exited_) {
    std::string line = read_report(std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()));
    if (line.rfind("exited ", 0) == 0) {
      exited_ = true;
      status_ = std::stoi(line.substr(7));
    }
  }
  return status_;
}

void Target::reap(std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  wait_exited(deadline);
  reap_cmd_.reset();
  while (!reaped_) {
    std::string line = read_report(std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()));
    if (line.rfind("reaped ", 0) == 0) reaped_ = true;
  }
}

void Target::wait_reaped(std::chrono::milliseconds deadline) {
  if (reap_ == Reap::on_request) throw std::logic_error("wait_reaped on an on_request target");
  auto until = Steady::now() + deadline;
  wait_exited(deadline);
  while (!reaped_) {
    std::string line = read_report(std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()));
    if (line.rfind("reaped ", 0) == 0) reaped_ = true;
  }
}

std::string Target::wait_job_control(std::chrono::milliseconds deadline) {
  std::string line = read_report(deadline);
  if (line.rfind("exited ", 0) == 0) {
    exited_ = true;
    status_ = std::stoi(line.substr(7));
    throw std::runtime_error("the target exited instead of a job-control event: " + line);
  }
  return line;
}

TargetGroup::TargetGroup(std::size_t n, Reap reap) {
  Fd in_r, report_w, reap_r;
  make_pipe(in_r, in_);
  make_pipe(report_, report_w);
  make_pipe(reap_r, reap_cmd_);
  // The nursery is a shell: forking a small process 10,000 times is quick,
  // where forking this test binary (large under ASan) takes minutes. Each
  // target is a subshell blocked in `read` on fd 3, the shared pipe: it
  // exits 0 at EOF. fd 4 reports the PIDs, fd 5 says when to reap.
  static const char* kScript = R"(
i=0
while [ "$i" -lt "$1" ]; do { read x <&3; exit 0; } & echo $! >&4; i=$((i+1)); done
exec 3<&-
echo end >&4
if [ "$2" = on_request ]; then read x <&5; fi
wait
echo reaped >&4
)";
  std::string count = std::to_string(n);
  const char* mode = reap == Reap::on_request ? "on_request" : "at_once";
  nursery_ = fork();
  if (nursery_ < 0) throw std::runtime_error("fork failed");
  if (nursery_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Lift the sources above 3..5 first, then put them in place (dup2 clears close-on-exec).
    int fds[3] = {fcntl(in_r.get(), F_DUPFD_CLOEXEC, 10), fcntl(report_w.get(), F_DUPFD_CLOEXEC, 10),
                  fcntl(reap_r.get(), F_DUPFD_CLOEXEC, 10)};
    for (int k = 0; k < 3; ++k) dup2(fds[k], 3 + k);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execl("/bin/sh", "sh", "-c", kScript, "nursery", count.c_str(), mode, static_cast<char*>(nullptr));
    _exit(127);
  }
  in_r.reset();
  report_w.reset();
  reap_r.reset();
  auto until = Steady::now() + std::chrono::seconds(60);
  for (;;) {
    std::string line = read_line_until(report_.get(), until, "the group's PIDs");
    if (line == "end") break;
    pids_.push_back(std::stoi(line));
  }
  if (pids_.size() != n) throw std::runtime_error("TargetGroup: the nursery started too few targets");
}

TargetGroup::~TargetGroup() {
  finish();
  reap();
  reap_child(nursery_);
}

void TargetGroup::finish() { in_.reset(); }

void TargetGroup::wait_reaped(std::chrono::milliseconds deadline) {
  if (done_) return;
  std::string line = read_line_until(report_.get(), Steady::now() + deadline, "the group's reap");
  done_ = line == "reaped";
}

pid_t unused_pid() {
  // PIDs are handed out upwards from the last one: a free PID just below it
  // is the last to be handed out again (after a full wrap of pid_max).
  pid_t last = 32000;
  if (FILE* f = fopen("/proc/sys/kernel/ns_last_pid", "re")) {
    if (fscanf(f, "%d", &last) != 1) last = 32000;
    fclose(f);
  }
  for (int k = 1; k < 30000; ++k) {
    pid_t p = last - k;
    if (p <= 300) p += 32000;  // wrap within the usual pid_max
    if (::kill(p, 0) != 0 && errno == ESRCH) return p;
  }
  throw std::runtime_error("no unused PID");
}

void wait_until_holds_pidfd(pid_t pid, pid_t target, std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  std::string want = "Pid:\t" + std::to_string(target);
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  while (Steady::now() < until) {
    if (DIR* d = opendir(dir.c_str())) {
      bool found = false;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        FILE* f = fopen((dir + "/" + e->d_name).c_str(), "re");
        if (!f) continue;
        char line[256];
        while (!found && fgets(line, sizeof line, f)) found = want + "\n" == line;
        fclose(f);
        if (found) break;
      }
      closedir(d);
      if (found) return;
    }
    usleep(1000);  // polling a condition, with a deadline
  }
  throw DeadlineError("process " + std::to_string(pid) + " never held a pidfd to " + std::to_string(target));
}

pid_t wait_for_child_named(pid_t parent, const std::string& name, std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  std::string children = "/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children";
  while (Steady::now() < until) {
    if (FILE* f = fopen(children.c_str(), "re")) {
      pid_t child;
      pid_t found = 0;
      while (!found && fscanf(f, "%d", &child) == 1) {
        char comm[64] = {};
        if (FILE* c = fopen(("/proc/" + std::to_string(child) + "/comm").c_str(), "re")) {
          if (fgets(comm, sizeof comm, c) && name + "\n" == comm) found = child;
          fclose(c);
        }
      }
      fclose(f);
      if (found) return found;
    }
    usleep(1000);  // polling a condition, with a deadline
  }
  throw DeadlineError("process " + std::to_string(parent) + " never had a child named " + name);
}

void wait_until_tick_after(unsigned long long tick, std::chrono::milliseconds deadline) {
  const auto per_second = static_cast<unsigned long long>(sysconf(_SC_CLK_TCK));
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    auto ticks = static_cast<unsigned long long>(now.tv_sec) * per_second +
                 static_cast<unsigned long long>(now.tv_nsec) / (1'000'000'000 / per_second);
    if (ticks > tick) return;
    if (std::chrono::steady_clock::now() > until) throw DeadlineError("the clock never passed tick " + std::to_string(tick));
    usleep(1000);  // polling the clock, with a deadline
  }
}

std::optional<PidHolder> PidHolder::take(pid_t pid, std::string& why, const char* name) {
  clone_args args{};
  args.exit_signal = SIGCHLD;
  args.set_tid = reinterpret_cast<std::uintptr_t>(&pid);
  args.set_tid_size = 1;
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r == 0) {
    // Only system calls in a child of a threaded process.
    if (name) prctl(PR_SET_NAME, name);
    for (;;) pause();
  }
  if (r < 0) {
    why = "clone3 with set_tid " + std::to_string(pid) + ": " + strerror(errno);
    return std::nullopt;
  }
  return PidHolder(static_cast<pid_t>(r));
}

PidHolder::~PidHolder() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

int Result::exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

Command::Command(std::vector<std::string> argv, Setup setup) {
  Fd out_w, err_w, in;
  make_pipe(out_, out_w);
  make_pipe(err_, err_w);
  if (setup.stdin_data) {
    // A memfd, not a pipe: the whole input is there before the child runs,
    // however large, and nobody has to feed it.
    in.reset(memfd_create("stdin", MFD_CLOEXEC));
    if (!in) throw std::runtime_error(std::string("memfd_create: ") + strerror(errno));
    write_all(in.get(), *setup.stdin_data);
    lseek(in.get(), 0, SEEK_SET);
  }

  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("PWAIT_BACKEND=", 0) == 0) continue;  // tests choose explicitly
    bool overridden = false;
    for (auto& x : setup.env)
      if (entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1)) overridden = true;
    if (!overridden) env_store.emplace_back(entry);
  }
  for (auto& x : setup.env) env_store.push_back(x);
  // The build tree may sit in a directory uid 65534 cannot search (a clone
  // in a mode-0700 temporary directory): it then runs a copy of pwait.
  if (setup.unprivileged && !argv.empty() && argv[0] == pwait_binary()) argv[0] = unprivileged_copy_of_pwait();
  std::vector<char*> envp, args;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv) args.push_back(s.data());
  args.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(setup.stdout_fd >= 0 ? setup.stdout_fd : out_w.get(), 1);
    dup2(err_w.get(), 2);
    if (setup.own_process_group) setpgid(0, 0);
    if (setup.stdin_data) dup2(in.get(), 0);
    else if (setup.stdin_fd >= 0) dup2(setup.stdin_fd, 0);
    else {
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (setup.nofile_soft || setup.nofile_hard) {
      rlimit lim{};
      getrlimit(RLIMIT_NOFILE, &lim);
      if (setup.nofile_hard) lim.rlim_max = *setup.nofile_hard;
      if (setup.nofile_soft) lim.rlim_cur = *setup.nofile_soft;
      if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(126);
    }
    if (setup.unprivileged) {
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(126);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (setup.own_process_group) setpgid(pid_, pid_);  // before any signal to its group, whoever runs first
  out_w.reset();
  err_w.reset();
}

Command::~Command() {
  if (!done_) {
    ::kill(pid_, SIGKILL);
    reap_child(pid_);
  }
}

void Command::kill(int sig) {
  if (!done_) ::kill(pid_, sig);
}

void Command::drain(bool block_until_eof, Steady::time_point until) {
  for (;;) {
    pollfd p[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
    int nfds = 0;
    for (auto& x : p) nfds += x.fd >= 0;
    if (nfds == 0) return;
    int r = poll(p, 2, block_until_eof ? ms_left(until) : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (block_until_eof) throw DeadlineError("deadline passed waiting for the command's output");
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!p[i].revents) continue;
      char buf[65536];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) (i == 0 ? result_.out : result_.err).append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR) (i == 0 ? out_ : err_).reset();
    }
  }
}

bool Command::running_after(std::chrono::milliseconds within) {
  if (done_) return false;
  auto until = Steady::now() + within;
  Fd pidfd(pidfd_open(pid_, 0));
  for (;;) {
    // Its end, or output to read (so it never blocks on a full pipe).
    pollfd p[3] = {{pidfd.get(), POLLIN, 0}, {out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
    int r = poll(p, 3, ms_left(until));
    if (r < 0 && errno == EINTR) continue;
    drain(false, until);
    if (p[0].revents) return false;
    if (r == 0 || Steady::now() >= until) return true;
  }
}

Result Command::wait(std::chrono::milliseconds deadline) {
  if (done_) return result_;
  auto until = Steady::now() + deadline;
  // Read its output while waiting: a command that fills a pipe nobody reads
  // would block, and the deadline would blame it.
  if (running_after(std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()))) {
    drain(false, until);
    ::kill(pid_, SIGKILL);
    reap_child(pid_);
    done_ = true;
    auto last = [](const std::string& s) { return s.substr(s.size() > 1500 ? s.size() - 1500 : 0); };
    throw DeadlineError("deadline passed waiting for the command to end; the end of its stdout: [" +
                        last(result_.out) + "] and of its stderr: [" + last(result_.err) + "]");
  }
  drain(true, until + std::chrono::seconds(5));  // output of a child it left behind may linger
  while (waitpid(pid_, &result_.status, 0) < 0 && errno == EINTR) {
  }
  done_ = true;
  return result_;
}

Result Command::output_when(const std::function<bool(const Result&)>& ready,
                            std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  for (;;) {
    if (ready(result_)) return result_;
    if (!out_ && !err_)
      throw std::runtime_error("the command closed its output before writing what was awaited; stdout: [" +
                               result_.out + "] stderr: [" + result_.err + "]");
    pollfd p[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
    int r = poll(p, 2, ms_left(until));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0)
      throw DeadlineError("deadline passed waiting for the command's output; stdout so far: [" + result_.out +
                          "] stderr so far: [" + result_.err + "]");
    drain(false, until);
  }
}

void wait_until_waiting(pid_t pid, std::chrono::milliseconds deadline) {
  auto until = Steady::now() + deadline;
  std::string path = "/proc/" + std::to_string(pid) + "/syscall";
  while (Steady::now() < until) {
    char buf[64] = {};
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    long nr = -1;
    if (fd && read(fd.get(), buf, sizeof buf - 1) > 0) nr = std::strtol(buf, nullptr, 10);
    if (nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2) return;
    usleep(1000);  // polling a condition, with a deadline
  }
  throw DeadlineError("process " + std::to_string(pid) + " never started waiting in epoll_wait");
}

struct WaiterThread::Shared : EventLoop::Source {
  std::mutex mu;
  std::condition_variable cv;
  Events events, at_watch;
  std::vector<pid_t> missing;
  bool started = false, finished = false, timed_out = false;
  std::exception_ptr error;
  Fd wake{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  bool stop_requested = false;  // under mu

  void ready(std::uint32_t, std::uint32_t) override {
    std::uint64_t n;
    while (read(wake.get(), &n, sizeof n) < 0 && errno == EINTR) {
    }
  }
};

WaiterThread::WaiterThread(const Backend& backend, std::vector<pid_t> pids, Request request,
                           std::chrono::milliseconds deadline)
    : shared_(std::make_shared<Shared>()) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, &old_mask_);
  thread_ = std::thread([shared = shared_, &backend, pids = std::move(pids), request, deadline]() mutable {
    Shared& s = *shared;
    try {
      EventLoop loop(Clock::now(), deadline);
      request.deadline = loop.deadline();
      loop.add(s.wake.get(), EPOLLIN, s, 0);
      Targets targets = pin_all(pids);
      Events local;
      auto waiter = backend.create(loop, request, local);
      waiter->watch(targets.pinned);
      {
        std::lock_guard lock(s.mu);
        s.missing = targets.missing;
        s.at_watch = local;
        s.events = local;
        s.started = true;
      }
      s.cv.notify_all();
      for (;;) {
        {
          std::lock_guard lock(s.mu);
          if (s.stop_requested) break;
        }
        local.clear();
        loop.run_once();
        std::lock_guard lock(s.mu);
        s.events.insert(s.events.end(), local.begin(), local.end());
        s.timed_out = loop.timed_out();
        if (loop.stopped()) break;
        s.cv.notify_all();
      }
      waiter.reset();
      release_backends(backends());
    } catch (...) {
      std::lock_guard lock(s.mu);
      s.error = std::current_exception();
    }
    std::lock_guard lock(s.mu);
    s.started = s.finished = true;
    s.cv.notify_all();
  });
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait(lock, [&] { return shared_->started; });
  if (shared_->error) {
    auto error = shared_->error;
    lock.unlock();
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    std::rethrow_exception(error);
  }
}

WaiterThread::~WaiterThread() {
  stop();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void WaiterThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stop_requested = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(shared_->wake.get(), &one, sizeof one);
  thread_.join();
}

WaiterThread::Events WaiterThread::collect(const std::function<bool(const Events&)>& done) {
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait(lock, [&] { return shared_->finished || done(shared_->events); });
  if (shared_->error) std::rethrow_exception(shared_->error);
  return shared_->events;
}

WaiterThread::Events WaiterThread::watched() {
  std::lock_guard lock(shared_->mu);
  return shared_->at_watch;
}

std::vector<pid_t> WaiterThread::missing() {
  std::lock_guard lock(shared_->mu);
  return shared_->missing;
}

bool WaiterThread::timed_out() {
  std::lock_guard lock(shared_->mu);
  return shared_->timed_out;
}

std::vector<std::string> pwait_args(std::vector<std::string> args) {
  args.insert(args.begin(), pwait_binary());
  return args;
}

std::string pwait_binary() { return PWAIT_BINARY; }

std::string unprivileged_copy_of_pwait() {
  static const std::string copy = [] {
    char dir[] = "/tmp/pwait-test-XXXXXX";
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0) throw std::runtime_error("mkdtemp for the pwait copy failed");
    std::string path = std::string(dir) + "/pwait";
    Fd from(open(PWAIT_BINARY, O_RDONLY | O_CLOEXEC));
    Fd to(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
    if (!from || !to) throw std::runtime_error("copying pwait for unprivileged runs failed");
    char buf[1 << 16];
    for (ssize_t n; (n = read(from.get(), buf, sizeof buf)) > 0;) write_all(to.get(), std::string_view(buf, static_cast<std::size_t>(n)));
    if (fchmod(to.get(), 0755) != 0) throw std::runtime_error("chmod of the pwait copy failed");
    return path;
  }();
  return copy;
}

Result run_pwait(std::vector<std::string> args, Command::Setup setup,
                 std::chrono::milliseconds deadline) {
  args.insert(args.begin(), pwait_binary());
  Command c(std::move(args), std::move(setup));
  return c.wait(deadline);
}

bool can_drop_privileges() { return geteuid() == 0; }

bool unprivileged_netlink() {
  static const bool usable = [] {
    if (!can_drop_privileges()) return false;
    Command::Setup setup;
    setup.unprivileged = true;
    Result r = run_pwait({"--list-backends"}, setup);
    return r.out.find("netlink  usable") != std::string::npos;
  }();
  return usable;
}

}  // namespace pwait::testing
