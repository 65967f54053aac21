// What only the ptrace backend must prove: a watched target behaves as if
// pwait were not there (its signals, job control, threads), and is left
// untraced and running however pwait ends. The shared suite in
// waiter_test.cc covers the events themselves.

#include <grp.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "pwait/backend.h"
#include "pwait/proc.h"
#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Reap;
using testing::Target;

// ---- targets that report every signal they handle ----

int g_out = -1;
std::atomic<long> g_count{0};  // lock-free: safe in a handler

// Async-signal-safe: "PREFIX N\n" on g_out.
void write_number(const char* prefix, long n) {
  char buf[48];
  std::size_t len = std::strlen(prefix);
  std::memcpy(buf, prefix, len);
  char digits[24];
  int d = 0;
  do digits[d++] = static_cast<char>('0' + n % 10);
  while ((n /= 10) > 0);
  while (d > 0) buf[len++] = digits[--d];
  buf[len++] = '\n';
  [[maybe_unused]] ssize_t r = write(g_out, buf, len);
}

void on_usr1(int) {
  ++g_count;
  write_number("u ", static_cast<long>(syscall(SYS_gettid)));
}

void on_term(int) {
  write_number("count ", g_count.load());
  _exit(3);
}

void install_counter(int out) {
  g_out = out;
  struct sigaction sa {};
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
}

// Counts SIGUSR1s ("u TID" per signal), writes "count N" and exits 3 on
// SIGTERM; exits with the byte it reads otherwise.
int count_signals(int in, int out) {
  install_counter(out);
  write_number("ready ", 0);
  return testing::exit_on_command(in, out);
}

// The same with three more threads; writes "threads T1 T2 T3" first.
int count_signals_threaded(int in, int out) {
  install_counter(out);
  static std::atomic<pid_t> tids[3];
  static int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 98;
  for (auto& tid : tids) {
    pthread_t th;
    auto* slot = &tid;
    if (pthread_create(&th, nullptr, [](void* arg) -> void* {
          static_cast<std::atomic<pid_t>*>(arg)->store(static_cast<pid_t>(syscall(SYS_gettid)));
          char c;
          while (read(pipe_fds[0], &c, 1) < 0) {  // parks until the process ends
          }
          return nullptr;
        }, slot) != 0)
      return 99;
  }
  for (auto& tid : tids)
    while (tid.load() == 0) sched_yield();
  std::string line = "threads";
  for (auto& tid : tids) {
    line += ' ';
    line += std::to_string(tid.load());
  }
  line += "\n";
  [[maybe_unused]] ssize_t r = write(out, line.data(), line.size());
  write_number("ready ", 0);
  return testing::exit_on_command(in, out);
}

// The leader thread exits on the first byte it reads (by the raw exit
// syscall: pthread_exit would unwind into gtest's frames copied by the fork);
// a second thread, once the leader is gone, writes "alone" and exits with the
// next byte.
int leader_leaves_on_command(int in, int out) {
  static int s_in, s_out;
  static pthread_t leader;
  s_in = in;
  s_out = out;
  leader = pthread_self();
  pthread_t th;
  if (pthread_create(&th, nullptr, [](void*) -> void* {
        pthread_join(leader, nullptr);
        [[maybe_unused]] ssize_t w = write(s_out, "alone\n", 6);
        _exit(testing::exit_on_command(s_in, -1));
      }, nullptr) != 0)
    return 99;
  char c;
  while (read(in, &c, 1) < 0 && errno == EINTR) {
  }
  syscall(SYS_exit, 0);
  return 98;
}

// A second thread execs, on the first byte read, a shell that says "execd"
// and exits 7 on the next byte: the kernel replaces the leader under the same PID.
int thread_execs_on_command(int in, int out) {
  static int s_in, s_out;
  s_in = in;
  s_out = out;
  pthread_t th;
  if (pthread_create(&th, nullptr, [](void*) -> void* {
        char c;
        while (read(s_in, &c, 1) < 0 && errno == EINTR) {
        }
        dup2(s_in, 0);
        dup2(s_out, 1);
        execl("/bin/sh", "sh", "-c", "echo execd; head -c1 >/dev/null; exit 7", static_cast<char*>(nullptr));
        _exit(97);
      }, nullptr) != 0)
    return 99;
  for (;;) pause();
}

// ---- observing a target through /proc ----

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream rest(line.substr(key.size() + 1));
      std::string value;
      rest >> value;
      return value;
    }
  return {};
}

pid_t tracer_of(pid_t pid) {
  std::string v = status_field(pid, "TracerPid");
  return v.empty() ? -1 : std::stoi(v);
}

// The process whose thread traces `pid` (TracerPid names the thread); 0 if none.
pid_t tracing_process(pid_t pid) {
  pid_t tracer = tracer_of(pid);
  if (tracer <= 0) return tracer;
  std::string tgid = status_field(tracer, "Tgid");
  return tgid.empty() ? -1 : std::stoi(tgid);
}

char state_of(pid_t pid) {
  auto st = read_proc_stat(pid);
  return st ? st->state : '?';
}

// Polls `cond` until it holds or the deadline passes.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds deadline = testing::kDeadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    usleep(1000);
  }
}

// Left alone: untraced, not in a tracing stop, and still handling signals.
void expect_untouched(Target& t) {
  EXPECT_TRUE(eventually([&] { return tracer_of(t.pid()) == 0; })) << "still traced";
  EXPECT_NE(state_of(t.pid()), 't');
  t.kill(SIGUSR1);
  EXPECT_EQ(t.read_line(), "u " + std::to_string(t.pid()));
}

// ---- the Waiter in this process ----

class PtraceWaiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ptrace_probe({}, {})) GTEST_SKIP() << "ptrace is unavailable: " << *why;
  }

  void start(std::vector<pid_t> pids, Request request = {}) {
    waiter_ = std::make_unique<testing::WaiterThread>(*find_backend("ptrace"), pids, request);
    for (pid_t p : pids)
      ASSERT_TRUE(eventually([&] { return tracing_process(p) == getpid(); })) << p << " was not seized";
  }

  Event wait_exited() {
    auto has_exit = [](const std::vector<Event>& ev) {
      return std::any_of(ev.begin(), ev.end(), [](const Event& e) { return e.kind == EventKind::exited; });
    };
    for (const Event& e : waiter_->collect(has_exit))
      if (e.kind == EventKind::exited) return e;
    throw testing::DeadlineError("no exit reported");
  }

  std::vector<Event> events() {
    return waiter_->collect([](const std::vector<Event>&) { return true; });
  }

  std::unique_ptr<testing::WaiterThread> waiter_;
};

TEST_F(PtraceWaiterTest, EverySignalReachesTheTargetOnce) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  start({t.pid()});
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    t.kill(SIGUSR1);
    ASSERT_EQ(t.read_line(), "u " + std::to_string(t.pid())) << "signal " << i;
  }
  t.kill(SIGTERM);
  EXPECT_EQ(t.read_line(), "count " + std::to_string(n));
  Event e = wait_exited();
  ASSERT_TRUE(e.status);
  EXPECT_TRUE(WIFEXITED(*e.status));
  EXPECT_EQ(WEXITSTATUS(*e.status), 3);
  EXPECT_EQ(t.wait_exited(), *e.status) << "the parent saw another status";
}

TEST_F(PtraceWaiterTest, StopAndContinueReachTheRealParent) {
  Target t;
  start({t.pid()});
  for (int sig : {SIGSTOP, SIGTSTP}) {
    t.kill(sig);
    EXPECT_EQ(t.wait_job_control(), "stopped " + std::to_string(sig));
    // Under a tracer the kernel shows a group-stop as 't', not 'T'.
    EXPECT_TRUE(eventually([&] { return state_of(t.pid()) == 't'; }));
    t.kill(SIGCONT);
    EXPECT_EQ(t.wait_job_control(), "continued");
    EXPECT_TRUE(eventually([&] { return state_of(t.pid()) == 'S'; }));
  }
  t.exit(4);
  Event e = wait_exited();
  ASSERT_TRUE(e.status);
  EXPECT_EQ(WEXITSTATUS(*e.status), 4);
}

TEST_F(PtraceWaiterTest, ThreadsGetTheirSignalsAndTheGroupEndsOnce) {
  Target t(count_signals_threaded);
  std::istringstream line(t.read_line());
  std::string word;
  line >> word;
  ASSERT_EQ(word, "threads");
  std::vector<pid_t> tids;
  for (pid_t tid; line >> tid;) tids.push_back(tid);
  ASSERT_EQ(tids.size(), 3u);
  ASSERT_EQ(t.read_line(), "ready 0");
  start({t.pid()});
  for (int round = 0; round < 20; ++round)
    for (pid_t tid : tids) {
      ASSERT_EQ(syscall(SYS_tgkill, t.pid(), tid, SIGUSR1), 0);
      ASSERT_EQ(t.read_line(), "u " + std::to_string(tid));
    }
  t.kill(SIGSTOP);
  EXPECT_EQ(t.wait_job_control(), "stopped " + std::to_string(SIGSTOP));
  t.kill(SIGCONT);
  EXPECT_EQ(t.wait_job_control(), "continued");
  t.kill(SIGTERM);  // process-directed: whichever thread handles it
  EXPECT_EQ(t.read_line(), "count 60");
  Event e = wait_exited();
  ASSERT_TRUE(e.status);
  EXPECT_EQ(WEXITSTATUS(*e.status), 3);
  std::size_t exits = 0;
  for (const Event& ev : events()) exits += ev.kind == EventKind::exited;
  EXPECT_EQ(exits, 1u);
}

TEST_F(PtraceWaiterTest, LeaderLeavingAloneIsNoEndAndTheGroupEndsOnce) {
  Target t(leader_leaves_on_command, Reap::on_request);
  start({t.pid()});
  t.send('L');
  ASSERT_EQ(t.read_line(), "alone");
  // The leader is a zombie, still traced, while the process lives on.
  EXPECT_TRUE(eventually([&] { return state_of(t.pid()) == 'Z'; }));
  EXPECT_TRUE(events().empty());
  t.exit(6);
  Event e = wait_exited();
  ASSERT_TRUE(e.status);
  EXPECT_EQ(WEXITSTATUS(*e.status), 6);
  EXPECT_TRUE(e.zombie);
  EXPECT_EQ(events().size(), 1u);
}

TEST_F(PtraceWaiterTest, ExecFromAnotherThreadIsStillFollowedToTheEnd) {
  Target t(thread_execs_on_command, Reap::on_request);
  start({t.pid()});
  t.send('E');
  ASSERT_EQ(t.read_line(), "execd");
  t.send('x');
  Event e = wait_exited();
  ASSERT_TRUE(e.status);
  EXPECT_EQ(WEXITSTATUS(*e.status), 7);
  EXPECT_EQ(t.wait_exited(), *e.status);
}

TEST_F(PtraceWaiterTest, DestroyingTheWaiterLeavesTheTargetAlone) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  start({t.pid()});
  waiter_->stop();
  EXPECT_EQ(tracer_of(t.pid()), 0) << "the destructor did not detach";
  expect_untouched(t);
}

TEST_F(PtraceWaiterTest, DestroyingTheWaiterKeepsAStoppedTargetStopped) {
  Target t;
  start({t.pid()});
  t.kill(SIGSTOP);
  EXPECT_EQ(t.wait_job_control(), "stopped " + std::to_string(SIGSTOP));
  waiter_->stop();
  EXPECT_EQ(tracer_of(t.pid()), 0);
  EXPECT_TRUE(eventually([&] { return state_of(t.pid()) == 'T'; })) << state_of(t.pid());
  t.kill(SIGCONT);
  EXPECT_EQ(t.wait_job_control(), "continued");
}

TEST_F(PtraceWaiterTest, ProbeDeclinesAnAlreadyTracedTarget) {
  Target t;
  start({t.pid()});  // we are now its tracer
  pid_t pid = t.pid();
  Targets targets = pin_all(std::vector<pid_t>{pid});
  auto why = ptrace_probe(targets.pinned, {});
  ASSERT_TRUE(why);
  EXPECT_NE(why->find(std::to_string(pid)), std::string::npos) << *why;
  EXPECT_NE(why->find("already traced"), std::string::npos) << *why;
}

// ---- the pwait binary ----

class PtraceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ptrace_probe({}, {})) GTEST_SKIP() << "ptrace is unavailable: " << *why;
  }

  // Starts pwait on `t` and returns once pwait has seized it.
  std::unique_ptr<Command> watch(Target& t, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {testing::pwait_binary(), "--backend", "ptrace"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::to_string(t.pid()));
    auto cmd = std::make_unique<Command>(argv);
    EXPECT_TRUE(eventually([&] { return tracing_process(t.pid()) == cmd->pid(); })) << "pwait did not seize it";
    return cmd;
  }
};

class PtraceStopSignalTest : public PtraceCliTest, public ::testing::WithParamInterface<int> {};

TEST_P(PtraceStopSignalTest, DetachesBeforeExiting) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  auto pwait = watch(t);
  pwait->kill(GetParam());
  testing::Result r = pwait->wait();
  EXPECT_EQ(r.exit_code(), 128 + GetParam()) << r.err;
  EXPECT_EQ(r.err, "");
  expect_untouched(t);
}

INSTANTIATE_TEST_SUITE_P(Signals, PtraceStopSignalTest, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

TEST_F(PtraceCliTest, TimeoutDetaches) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  auto pwait = watch(t, {"--timeout", "300ms"});
  EXPECT_EQ(pwait->wait().exit_code(), 124);
  expect_untouched(t);
}

TEST_F(PtraceCliTest, AnyReachedDetachesTheOthers) {
  Target first;
  Target other(count_signals);
  ASSERT_EQ(other.read_line(), "ready 0");
  Command pwait({testing::pwait_binary(), "--backend", "ptrace", "--any", std::to_string(first.pid()),
                 std::to_string(other.pid())});
  ASSERT_TRUE(eventually([&] { return tracing_process(other.pid()) == pwait.pid(); }));
  first.exit(0);
  EXPECT_EQ(pwait.wait().exit_code(), 0);
  expect_untouched(other);
}

TEST_F(PtraceCliTest, TargetCarriesOnWhenPwaitIsKilled) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  auto pwait = watch(t);
  pwait->kill(SIGKILL);
  EXPECT_EQ(WTERMSIG(pwait->wait().status), SIGKILL);
  expect_untouched(t);
}

// A zombie leader cannot be detached: pwait ends without waiting for it to
// stop, and the kernel lets go of it, so its real parent still sees the
// process end. The same when pwait is stopped: its end reaches pwait, which
// hands it on once continued.
TEST_F(PtraceCliTest, ZombieLeaderIsLetGoWhenPwaitEnds) {
  Target t(leader_leaves_on_command, Reap::on_request);
  auto pwait = watch(t, {"--timeout", "2s"});
  t.send('L');
  ASSERT_EQ(t.read_line(), "alone");
  testing::Result r = pwait->wait();
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_EQ(tracer_of(t.pid()), 0);
  t.exit(6);
  EXPECT_EQ(WEXITSTATUS(t.wait_exited()), 6);
}

TEST_F(PtraceCliTest, ZombieLeaderEndingWhilePwaitIsStoppedIsReported) {
  Target t(leader_leaves_on_command, Reap::on_request);
  Command::Setup own;
  own.own_process_group = true;
  Command pwait({testing::pwait_binary(), "--backend", "ptrace", "-x", std::to_string(t.pid())}, own);
  ASSERT_TRUE(eventually([&] { return tracing_process(t.pid()) == pwait.pid(); }));
  t.send('L');
  ASSERT_EQ(t.read_line(), "alone");
  pwait.kill(SIGTSTP);
  ASSERT_TRUE(eventually([&] { return state_of(pwait.pid()) == 'T'; })) << "pwait did not stop";
  t.exit(6);
  pwait.kill(SIGCONT);
  testing::Result r = pwait.wait();
  EXPECT_EQ(r.exit_code(), 6) << r.out << r.err;
  EXPECT_EQ(WEXITSTATUS(t.wait_exited()), 6);
}

TEST_F(PtraceCliTest, SignalPendingAtExitIsHandedBack) {
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  auto pwait = watch(t);
  // With pwait stopped, the target's next signal waits in a signal-delivery stop.
  pwait->kill(SIGSTOP);
  ASSERT_TRUE(eventually([&] { return state_of(pwait->pid()) == 'T'; }));
  t.kill(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return state_of(t.pid()) == 't'; }));
  pwait->kill(SIGTERM);
  pwait->kill(SIGCONT);
  EXPECT_EQ(pwait->wait().exit_code(), 128 + SIGTERM);
  EXPECT_EQ(t.read_line(), "u " + std::to_string(t.pid())) << "the pending SIGUSR1 was lost";
  expect_untouched(t);
}

TEST_F(PtraceCliTest, ExitStatusAsWithPidfd) {
  Target t;
  auto pwait = watch(t, {"-x", "--json"});
  t.exit(9);
  testing::Result r = pwait->wait();
  EXPECT_EQ(r.exit_code(), 9) << r.err;
  EXPECT_NE(r.out.find("\"backend\":\"ptrace\""), std::string::npos) << r.out;
}

TEST_F(PtraceCliTest, InheritedIgnoredSigchldDoesNotHideTheStops) {
  if (access("/usr/bin/perl", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/perl to exec pwait with SIGCHLD ignored";
  Target t(count_signals);
  ASSERT_EQ(t.read_line(), "ready 0");
  // An ignored SIGCHLD survives execve; for it the kernel sends none at ptrace stops.
  Command pwait({"/usr/bin/perl", "-e", "$SIG{CHLD} = 'IGNORE'; exec @ARGV", testing::pwait_binary(),
                 "--backend", "ptrace", "-x", std::to_string(t.pid())});
  ASSERT_TRUE(eventually([&] { return tracing_process(t.pid()) == pwait.pid(); }));
  t.kill(SIGUSR1);
  EXPECT_EQ(t.read_line(), "u " + std::to_string(t.pid()));
  t.exit(8);
  EXPECT_EQ(pwait.wait().exit_code(), 8);
}

TEST_F(PtraceCliTest, AlreadyTracedTargetFailsAtOnceWhenForced) {
  Target t;
  Command strace({"/usr/bin/strace", "-qq", "-o", "/dev/null", "-p", std::to_string(t.pid())});
  ASSERT_TRUE(eventually([&] { return tracer_of(t.pid()) == strace.pid(); })) << "strace did not attach";

  auto start = std::chrono::steady_clock::now();
  testing::Result forced = testing::run_pwait({"--backend", "ptrace", std::to_string(t.pid())});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(forced.exit_code(), 3);
  EXPECT_NE(forced.err.find(std::to_string(t.pid())), std::string::npos) << forced.err;
  EXPECT_NE(forced.err.find("already traced"), std::string::npos) << forced.err;

  Command automatic({testing::pwait_binary(), "-x", "--json", std::to_string(t.pid())});
  ASSERT_TRUE(automatic.running_after(200ms));
  t.exit(5);
  testing::Result r = automatic.wait();
  EXPECT_EQ(r.exit_code(), 5) << r.err;
  EXPECT_EQ(r.out.find("\"backend\":\"ptrace\""), std::string::npos) << r.out;
}

TEST_F(PtraceCliTest, RefusedWithoutCapSysPtrace) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as nobody";
  Target t;
  Command::Setup nobody;
  nobody.unprivileged = true;
  testing::Result r = testing::run_pwait({"--backend", "ptrace", std::to_string(t.pid())}, nobody);
  EXPECT_EQ(r.exit_code(), 3);
  // Without CAP_SYS_PTRACE the backend refuses every target: a traced
  // target's set-user-ID execs would lose their privileges.
  EXPECT_NE(r.err.find("CAP_SYS_PTRACE"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("set-user-ID"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Issue 11, defect 7: pwait stopped with Ctrl-Z (SIGTSTP) lets its target
// go first, so the target is never frozen by pwait's own stop; continued,
// pwait seizes it again, or sees that it ended meanwhile.
TEST_F(PtraceCliTest, StoppedPwaitLeavesTheTargetFree) {
  for (bool ends_meanwhile : {false, true}) {
    Target t(count_signals);
    ASSERT_EQ(t.read_line(), "ready 0");
    Command::Setup own;
    own.own_process_group = true;  // a job of its own, as at a terminal
    Command pwait({testing::pwait_binary(), "--backend", "ptrace", "-v", "-x", std::to_string(t.pid())}, own);
    ASSERT_TRUE(eventually([&] { return tracing_process(t.pid()) == pwait.pid(); }));
    pwait.kill(SIGTSTP);
    ASSERT_TRUE(eventually([&] { return state_of(pwait.pid()) == 'T'; })) << "pwait did not stop";
    EXPECT_EQ(tracer_of(t.pid()), 0) << "stopped while still tracing its target";
    t.kill(SIGUSR1);  // handled at once, not held in a tracing stop
    EXPECT_EQ(t.read_line(), "u " + std::to_string(t.pid()));
    if (ends_meanwhile) {
      t.kill(SIGTERM);
      EXPECT_EQ(t.read_line(), "count 1");
      t.wait_exited();
      pwait.kill(SIGCONT);
      testing::Result r = pwait.wait();
      EXPECT_EQ(r.exit_code(), 3) << r.out << r.err;
      EXPECT_EQ(r.out, std::to_string(t.pid()) + ": exited with status 3\n");
    } else {
      pwait.kill(SIGCONT);
      ASSERT_TRUE(eventually([&] { return tracing_process(t.pid()) == pwait.pid(); })) << "not seized again";
      t.kill(SIGUSR1);
      EXPECT_EQ(t.read_line(), "u " + std::to_string(t.pid()));
      t.exit(6);
      testing::Result r = pwait.wait();
      EXPECT_EQ(r.exit_code(), 6) << r.out << r.err;
    }
  }
}

// A target that drops to nobody, says "ready", and on command execs
// `program -u` with its output on `out`: a set-user-ID root program prints 0.
std::string g_setuid_program;
int exec_setuid_on_command(int in, int out) {
  g_out = out;
  if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
    return 97;
  write_number("ready ", 0);
  char c;
  while (read(in, &c, 1) < 0 && errno == EINTR) {
  }
  dup2(out, 1);
  execl(g_setuid_program.c_str(), g_setuid_program.c_str(), "-u", static_cast<char*>(nullptr));
  return 98;
}

// Issue 11, defect 6: a set-user-ID program the target runs keeps its
// privileges under pwait's ptrace (which is refused without CAP_SYS_PTRACE,
// the privilege that keeps them: see RefusedWithoutCapSysPtrace).
TEST_F(PtraceCliTest, SetUserIdExecKeepsItsPrivileges) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a set-user-ID root program";
  g_setuid_program = ::testing::TempDir() + "pwait_setuid_id_" + std::to_string(getpid());
  {
    Command cp({"/bin/cp", "/usr/bin/id", g_setuid_program});
    ASSERT_EQ(cp.wait().exit_code(), 0);
  }
  ASSERT_EQ(chmod(g_setuid_program.c_str(), 04755), 0);
  auto euid_after_exec = [&](bool watched) {
    Target t(exec_setuid_on_command);
    if (t.read_line() != "ready 0") return std::string("target did not start");
    std::unique_ptr<Command> pwait;
    if (watched) pwait = watch(t);
    t.send('x');
    std::string line = t.read_line();
    if (pwait) pwait->wait();
    return line;
  };
  std::string unwatched = euid_after_exec(false);
  if (unwatched != "0") {
    unlink(g_setuid_program.c_str());
    GTEST_SKIP() << "set-user-ID programs do not run privileged here (nosuid?): id -u said " << unwatched;
  }
  EXPECT_EQ(euid_after_exec(true), "0") << "the traced exec lost its privileges";
  unlink(g_setuid_program.c_str());
}

}  // namespace
}  // namespace pwait
