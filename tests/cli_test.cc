// The command-line contract, through the built binary: exit codes, stdout,
// stderr, for every backend, on targets that are not pwait's children.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <pthread.h>
#include <regex>
#include <sstream>

#include "pwait/backend.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"
#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Reap;
using testing::Result;
using testing::run_pwait;
using testing::Target;
using testing::TargetGroup;
using testing::pwait_args;
using testing::str;

// Waits until pwait has blocked its stop signals: from then on SIGINT and
// SIGTERM go through its cleanup rather than killing it outright.
void wait_until_signals_blocked(pid_t pid) {
  auto until = std::chrono::steady_clock::now() + testing::kDeadline;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream f("/proc/" + str(pid) + "/status");
    std::string line;
    // pwait itself, not the forked test process before its exec: that one
    // may have inherited a mask blocking SIGINT (a test that made an
    // EventLoop in this process), which it drops just before the exec.
    if (!std::getline(f, line) || line != "Name:\tpwait") {
      usleep(1000);  // polling a condition, with a deadline
      continue;
    }
    while (std::getline(f, line)) {
      if (line.rfind("SigBlk:", 0) == 0 && (std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGINT - 1))))
        return;
    }
    usleep(1000);  // polling a condition, with a deadline
  }
  FAIL() << "pwait never blocked SIGINT";
}

std::string file_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const Backend& b : backends()) names.emplace_back(b.name);
  return names;
}

// ---------------------------------------------------------------- per backend

class CliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto why = find_backend(GetParam())->probe({}, {});
    release_backends(backends());
    if (why) GTEST_SKIP() << GetParam() << ": " << *why;
  }
  std::vector<std::string> args(std::vector<std::string> rest) {
    rest.insert(rest.begin(), {"-b", GetParam()});
    return rest;
  }
  Command start(std::vector<std::string> rest, Command::Setup setup = {}) {
    return Command(pwait_args(args(std::move(rest))), std::move(setup));
  }
};

TEST_P(CliTest, WaitsForNonChildAndSaysHow) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command c = start({"-v", str(t.pid())});
  EXPECT_TRUE(c.running_after(200ms)) << "returned while the target runs";
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  // It exited while watched: that its parent has not reaped it yet is a
  // moment, not worth a word (a shell reaps microseconds later).
  EXPECT_EQ(r.out, str(t.pid()) + ": exited with status 0\n");
  EXPECT_EQ(r.err, "");
}

TEST_P(CliTest, ExitStatusOfFirstFailure) {
  Target ok(testing::exit_on_command, Reap::on_request), bad(testing::exit_on_command, Reap::on_request);
  Command c = start({"-x", str(ok.pid()), str(bad.pid())});
  ok.exit(0);
  ok.wait_exited();
  bad.exit(3);
  EXPECT_EQ(c.wait().exit_code(), 3);

  Target killed(testing::exit_on_command, Reap::on_request);
  Command k = start({"-x", str(killed.pid())});
  killed.kill(SIGTERM);
  EXPECT_EQ(k.wait().exit_code(), 128 + SIGTERM);
}

TEST_P(CliTest, WithoutExitStatusAFailureStillGivesZero) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command c = start({str(t.pid())});
  t.exit(9);
  EXPECT_EQ(c.wait().exit_code(), 0);
}

TEST_P(CliTest, AnyReturnsOnTheFirst) {
  // Targets that end during a test stay zombies until reaped, so none can
  // vanish before pwait has opened it (that would rightly be "no such process").
  Target a(testing::exit_on_command, Reap::on_request), b;
  Command c = start({"-o", str(a.pid()), str(b.pid())});
  a.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 0);
  EXPECT_EQ(kill(b.pid(), 0), 0) << "the other target must still run";
}

TEST_P(CliTest, CountWaitsForN) {
  Target a(testing::exit_on_command, Reap::on_request), b(testing::exit_on_command, Reap::on_request), d;
  Command c = start({"-c", "2", str(a.pid()), str(b.pid()), str(d.pid())});
  a.exit(0);
  a.wait_exited();
  EXPECT_TRUE(c.running_after(200ms)) << "returned after one of two";
  b.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 0);
}

TEST_P(CliTest, MissingPidIsAnErrorAfterWaitingForTheOthers) {
  Target t(testing::exit_on_command, Reap::on_request);
  pid_t gone = testing::unused_pid();
  Command c = start({str(gone), str(t.pid())});
  EXPECT_TRUE(c.running_after(200ms)) << "did not wait for the existing target";
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.err, "pwait: " + str(gone) + ": no such process\n");
}

TEST_P(CliTest, MissingPidCountsAsEndedWithExited) {
  pid_t gone = testing::unused_pid();
  Result r = run_pwait(args({"-e", "-v", str(gone)}));
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, str(gone) + ": no such process\n");
}

TEST_P(CliTest, TimeoutGives124AndNamesTheRunning) {
  Target a, b;
  Result r = run_pwait(args({"-v", "-t", "300ms", str(a.pid()), str(b.pid())}));
  EXPECT_EQ(r.exit_code(), 124);
  EXPECT_EQ(r.err, "pwait: timed out after 0.3s; still running: " + str(a.pid()) + " " + str(b.pid()) + "\n");
}

TEST_P(CliTest, ReapedWaitsForTheReap) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command c = start({"-r", "-v", str(t.pid())});
  testing::wait_until_waiting(c.pid());
  t.exit(0);
  t.wait_exited();
  EXPECT_TRUE(c.running_after(300ms)) << "returned before the zombie was reaped";
  t.reap();
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find(": exited with status 0, zombie (parent " + str(t.parent())), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(str(t.pid()) + ": reaped\n"), std::string::npos) << r.out;
}

// The target is reaped and a new process takes its PID before pwait looks
// again: that process is not the target, and pwait must not wait for it.
// With the poll backend (a 1 s interval) the reuse lands between two sweeps,
// the start-time guard's case. A pidfd holds the process, not its number,
// and netlink and ptrace hear of the exit at once, so for them the reuse
// comes too late to matter: they must end all the same.
TEST_P(CliTest, PidReusedAfterTheReapIsNotTheTarget) {
  Target t(testing::exit_on_command, Reap::on_request);
  std::vector<std::string> rest = {str(t.pid())};
  if (GetParam() == "poll") rest.insert(rest.begin(), {"--interval", "1s"});
  Command c = start(rest);
  testing::wait_until_waiting(c.pid());
  // /proc counts start times in clock ticks (10 ms): a natural reuse comes
  // a whole PID space of forks later, this one must come a tick later at least.
  auto st = read_proc_stat(t.pid());
  ASSERT_TRUE(st);
  testing::wait_until_tick_after(st->start_time);
  t.exit(0);
  t.wait_exited();
  t.reap();
  std::string why;
  auto impostor = testing::PidHolder::take(t.pid(), why);
  if (!impostor) GTEST_SKIP() << "cannot reuse the PID here: " << why;
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(kill(impostor->pid(), 0), 0) << "the process holding the reused PID must still run";
}

TEST_P(CliTest, ZombieAtStartHasEnded) {
  Target t(testing::exit_on_command, Reap::on_request);
  t.exit(2);
  t.wait_exited();
  Result r = run_pwait(args({"-x", "-v", str(t.pid())}));
  EXPECT_EQ(r.exit_code(), 2);
  // A lasting condition: its parent has left it unreaped since before pwait began.
  EXPECT_EQ(r.out, str(t.pid()) + ": exited with status 2, zombie (parent " + str(t.parent()) +
                       " has not reaped it)\n");
}

TEST_P(CliTest, JsonLines) {
  Target t(testing::exit_on_command, Reap::on_request);
  pid_t gone = testing::unused_pid();
  Command c = start({"-j", "-e", "-r", str(t.pid()), str(gone)});
  testing::wait_until_waiting(c.pid());
  t.kill(SIGKILL);
  t.wait_exited();
  EXPECT_TRUE(c.running_after(200ms));
  t.reap();
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  std::string b = GetParam();
  std::string tail = ",\"backend\":\"" + b + "\",\"elapsed\":[0-9]+\\.[0-9]{6}\\}";
  // Targets carry their name when pinned and their pidfs inode (null where none).
  std::string inode = pidfd_features().inode ? "[0-9]+" : "null";
  std::regex missing("\\{\"event\":\"missing\",\"pid\":" + str(gone) +
                     ",\"name\":null,\"inode\":null,\"status\":null,\"zombie\":false,\"parent\":null" + tail);
  std::regex exited("\\{\"event\":\"exited\",\"pid\":" + str(t.pid()) +
                    ",\"name\":\"pwait_tests\",\"inode\":" + inode + ",\"status\":\\{\"signal\":9,\"name\":\"SIGKILL\",\"core_dumped\":false\\},"
                    "\"zombie\":true,\"parent\":" + str(t.parent()) + tail);
  std::regex reaped("\\{\"event\":\"reaped\",\"pid\":" + str(t.pid()) +
                    ",\"name\":\"pwait_tests\",\"inode\":" + inode + ",\"status\":\\{\"signal\":9,\"name\":\"SIGKILL\",\"core_dumped\":false\\},"
                    "\"zombie\":false,\"parent\":null" + tail);
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  // "missing" and "exited" may come in either order (the target may already
  // be a zombie when pwait looks); "reaped" comes after "exited".
  auto line_of = [&](const std::regex& re) {
    auto it = std::find_if(lines.begin(), lines.end(), [&](auto& l) { return std::regex_match(l, re); });
    return it - lines.begin();
  };
  auto m = line_of(missing), e = line_of(exited), rp = line_of(reaped);
  EXPECT_LT(m, 3) << "no missing event like the schema: " << r.out;
  EXPECT_LT(e, 3) << "no exited event like the schema: " << r.out;
  EXPECT_LT(rp, 3) << "no reaped event like the schema: " << r.out;
  EXPECT_LT(e, rp) << r.out;
}

TEST_P(CliTest, JsonTimeoutEvents) {
  Target t;
  Result r = run_pwait(args({"-j", "-t", "0.1", str(t.pid())}));
  EXPECT_EQ(r.exit_code(), 124);
  EXPECT_EQ(r.out.rfind("{\"event\":\"timeout\",\"pid\":" + str(t.pid()) + ",\"name\":\"pwait_tests\",", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(",\"status\":null,"), std::string::npos) << r.out;
}

TEST_P(CliTest, StopSignalsGive128PlusN) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    Target t;
    Command c = start({str(t.pid())});
    wait_until_signals_blocked(c.pid());
    c.kill(sig);
    Result r = c.wait();
    EXPECT_EQ(r.exit_code(), 128 + sig) << "signal " << sig << ": " << r.err;
    EXPECT_EQ(kill(t.pid(), 0), 0) << "the target must carry on";
  }
}

TEST_P(CliTest, TenThousandTargetsUnderASoftLimitOf1024) {
  // Zombies until reaped: a backend slow to start (seizing 10,000 targets
  // takes a while) still finds every target, exited or not.
  TargetGroup group(10000, Reap::on_request);
  std::string list;
  for (pid_t p : group.pids()) list += str(p) + "\n";
  Command::Setup setup;
  setup.stdin_data = list;
  setup.nofile_soft = 1024;
  Command c = start({"-F", "-"}, setup);
  EXPECT_TRUE(c.running_after(500ms));
  group.finish();
  Result r = c.wait(100s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  group.reap();
}

INSTANTIATE_TEST_SUITE_P(Backends, CliTest, ::testing::ValuesIn(backend_names()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- whole tool

TEST(Cli, UsageErrorsNameTheValueAndExit2) {
  std::string dir = ::testing::TempDir();
  std::string binary = dir + "pwait_binary_pidfile";
  std::ofstream(binary, std::ios::binary) << std::string("\x7f" "ELF\0\0\x01", 7);
  struct Case {
    std::vector<std::string> args;
    std::string named;  // what stderr must name
  };
  std::vector<Case> cases = {
      {{""}, "''"},
      {{"abc"}, "'abc'"},
      {{"0"}, "'0'"},
      {{"12abc"}, "'12abc'"},
      {{"99999999999"}, "'99999999999'"},
      {{"1.5"}, "'1.5'"},
      {{"-t", "5x", "1"}, "'5x'"},
      {{"--bogus", "1"}, "--bogus"},
      {{}, "no target given"},
      {{"-F", "/nonexistent/pidfile"}, "/nonexistent/pidfile"},
      {{"-F", binary}, binary},
      {{"-F", dir}, dir},
      {{"-c", "3", "1", "2"}, "'3'"},
      {{"-b", "nope", "1"}, "'nope'"},
  };
  for (auto& c : cases) {
    Result r = run_pwait(c.args);
    std::string shown;
    for (auto& a : c.args) shown += "[" + a + "]";
    EXPECT_EQ(r.exit_code(), 2) << shown << " " << r.err;
    EXPECT_EQ(r.out, "") << shown;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << shown << " " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << shown << " " << r.err;
  }
  unlink(binary.c_str());
}

TEST(Cli, BadBackendInEnvironment) {
  Command::Setup setup;
  setup.env = {"PWAIT_BACKEND=nope"};
  Result r = run_pwait({"1"}, setup);
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("'nope' from PWAIT_BACKEND"), std::string::npos) << r.err;
}

TEST(Cli, BackendFromEnvironment) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command::Setup setup;
  setup.env = {"PWAIT_BACKEND=poll"};
  Command c(pwait_args({"-j", str(t.pid())}), setup);
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_NE(r.out.find("\"backend\":\"poll\""), std::string::npos) << r.out;
}

TEST(Cli, RefusesToWaitForItself) {
  Result r = testing::Command({"/bin/sh", "-c", "exec \"$0\" $$", testing::pwait_binary()}).wait();
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("is pwait itself"), std::string::npos) << r.err;
}

TEST(Cli, AThreadIsNotAProcess) {
  // A target whose second thread lives until the test ends: its TID is not a process.
  Target live([](int in, int out) {
    static int fds[2];
    fds[0] = in;
    fds[1] = out;
    pthread_t th;
    pthread_create(&th, nullptr, [](void*) -> void* {
      std::string tid = std::to_string(syscall(SYS_gettid)) + "\n";
      if (write(fds[1], tid.data(), tid.size()) < 0) return nullptr;
      char c;
      if (read(fds[0], &c, 1) < 0) return nullptr;
      return nullptr;
    }, nullptr);
    pthread_join(th, nullptr);
    return 0;
  });
  std::string tid = live.read_line();
  for (const Backend& backend : backends()) {
    std::string b(backend.name);
    bool unusable = backend.probe({}, {}).has_value();
    release_backends(backends());
    if (unusable) continue;  // nothing to hold it to here
    Result r = run_pwait({"-b", b, tid});
    EXPECT_EQ(r.exit_code(), 3) << b << " " << r.err;
    EXPECT_NE(r.err.find(tid + ": is a thread of process " + str(live.pid())), std::string::npos) << b << " " << r.err;
  }
}

TEST(Cli, HardFdLimitTooLowForPidfd) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  TargetGroup group(1500);
  std::string list;
  for (pid_t p : group.pids()) list += str(p) + "\n";
  Command::Setup setup;
  setup.stdin_data = list;
  setup.nofile_soft = 1024;
  setup.nofile_hard = 1024;
  setup.unprivileged = true;
  Result forced = run_pwait({"-b", "pidfd", "-F", "-"}, setup);
  EXPECT_EQ(forced.exit_code(), 3) << forced.err;
  EXPECT_NE(forced.err.find("RLIMIT_NOFILE"), std::string::npos) << forced.err;
  EXPECT_EQ(std::count(forced.err.begin(), forced.err.end(), '\n'), 1) << forced.err;

  // auto falls back to a backend that needs no fd per target.
  Command c(pwait_args({"-j", "-F", "-"}), setup);
  testing::wait_until_waiting(c.pid());
  group.finish();
  Result r = c.wait(60s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out.find("\"backend\":\"pidfd\""), std::string::npos);
}

TEST(Cli, AnotherUsersZombieHasUnknownStatusNotSuccess) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  for (std::string b : {"pidfd", "poll"}) {
    Target t(testing::exit_on_command, Reap::on_request);  // root's process
    Command::Setup setup;
    setup.unprivileged = true;
    Command c(pwait_args({"-b", b, "-v", "-x", str(t.pid())}), setup);
    testing::wait_until_waiting(c.pid());
    t.exit(0);
    Result r = c.wait();
    // The kernel masks the exit code from us: it must read as unknown, never as success.
    EXPECT_EQ(r.out, str(t.pid()) + ": exited (status unknown)\n") << b;
    EXPECT_EQ(r.exit_code(), 125) << b;
  }
}

TEST(Cli, AnotherUsersStatusAfterTheReap) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  if (!pidfd_keeps_exit_status()) GTEST_SKIP() << "this kernel keeps no exit status for a reaped process (PIDFD_INFO_EXIT, Linux 6.15)";
  Target t(testing::exit_on_command, Reap::on_request);
  Command::Setup setup;
  setup.unprivileged = true;
  Command c(pwait_args({"-b", "pidfd", "-r", "-x", "-j", str(t.pid())}), setup);
  testing::wait_until_waiting(c.pid());
  t.exit(6);
  t.reap();
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 6) << r.out << r.err;
  EXPECT_NE(r.out.find("{\"event\":\"reaped\",\"pid\":" + str(t.pid()) + ","), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(",\"status\":{\"code\":6},\"zombie\":false"), std::string::npos)
      << r.out;
}

TEST(Cli, AutoWithExitStatusPicksABackendThatKnowsTheStatus) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  Command::Setup setup;
  setup.unprivileged = true;
  Result list = run_pwait({"--list-backends"}, setup);
  if (list.out.find("netlink  usable") == std::string::npos)
    GTEST_SKIP() << "no backend here can tell another user's status to an unprivileged pwait: " << list.out;
  // pidfd cannot read another user's zombie's status: without -x it still
  // serves, with -x auto goes on to a backend that knows it.
  for (bool x : {false, true}) {
    Target t(testing::exit_on_command, Reap::on_request);  // root's process
    std::vector<std::string> args = {"-j", str(t.pid())};
    if (x) args.insert(args.begin(), "-x");
    Command c(pwait_args(args), setup);
    testing::wait_until_waiting(c.pid());
    t.exit(6);
    Result r = c.wait();
    if (x) {
      EXPECT_EQ(r.exit_code(), 6) << r.out << r.err;
      EXPECT_NE(r.out.find("\"status\":{\"code\":6}"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("\"backend\":\"netlink\""), std::string::npos) << r.out;
    } else {
      EXPECT_EQ(r.exit_code(), 0) << r.err;
      EXPECT_NE(r.out.find("\"backend\":\"pidfd\""), std::string::npos) << r.out;
    }
  }
}

TEST(Cli, StopSignalEndsPwaitWhileItReadsAPidfile) {
  std::string fifo = ::testing::TempDir() + "pwait_fifo_" + str(getpid());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Command c(pwait_args({"-F", fifo}));  // no writer: waits for one in the loop
  testing::wait_until_waiting(c.pid());
  c.kill(SIGTERM);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 128 + SIGTERM) << "status " << r.status << " " << r.err;
  EXPECT_EQ(r.err, "");
  unlink(fifo.c_str());
}

TEST(Cli, JsonTimeoutNamesTheZombiesParent) {
  Target t(testing::exit_on_command, Reap::on_request);
  t.exit(0);
  t.wait_exited();
  Result r = run_pwait({"-j", "-r", "-t", "200ms", str(t.pid())});
  EXPECT_EQ(r.exit_code(), 124);
  EXPECT_NE(r.out.find("{\"event\":\"timeout\",\"pid\":" + str(t.pid()) + ","), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(",\"status\":null,\"zombie\":true,\"parent\":" + str(t.parent()) + ","),
            std::string::npos)
      << r.out;
}

TEST(Cli, ListBackends) {
  Result r = run_pwait({"--list-backends"});
  EXPECT_EQ(r.exit_code(), 0);
  for (const Backend& b : backends())
    EXPECT_NE(r.out.find(std::string(b.name) + " "), std::string::npos) << r.out;
}

TEST(Cli, HelpVersionManAndReadmeAgree) {
  Result h = run_pwait({"--help"});
  EXPECT_EQ(h.exit_code(), 0);
  Result v = run_pwait({"--version"});
  EXPECT_EQ(v.exit_code(), 0);
  EXPECT_EQ(v.out.rfind("pwait ", 0), 0u);
  std::string man = file_text(std::string(PWAIT_SOURCE_DIR) + "/man/pwait.1");
  std::string readme = file_text(std::string(PWAIT_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(man.empty());
  ASSERT_FALSE(readme.empty());
  std::regex long_option("--[a-z][a-z-]+");
  int seen = 0;
  for (std::sregex_iterator it(h.out.begin(), h.out.end(), long_option), end; it != end; ++it) {
    std::string opt = it->str();
    // mdoc writes --foo-bar as "Fl \-foo\-bar": accept either spelling.
    std::string mdoc;
    for (char ch : opt.substr(1)) mdoc += ch == '-' ? std::string("\\-") : std::string(1, ch);
    EXPECT_TRUE(man.find(mdoc) != std::string::npos || man.find(opt) != std::string::npos) << opt << " not in man/pwait.1";
    EXPECT_NE(readme.find(opt), std::string::npos) << opt << " not in README.md";
    ++seen;
  }
  EXPECT_GE(seen, 14);
  // The README's usage block is --help itself, up to the exit status.
  std::string usage = h.out.substr(0, h.out.find("Exit status:"));
  while (!usage.empty() && usage.back() == '\n') usage.pop_back();
  EXPECT_NE(readme.find("```\n" + usage + "\n```"), std::string::npos) << "README.md's usage is not pwait --help";
  // --help ends with three examples, which the man page and the README show too.
  auto examples = h.out.substr(h.out.find("Examples:"));
  EXPECT_EQ(std::count(examples.begin(), examples.end(), '\n'), 4) << examples;
  for (std::string example : {"pwait 1234 && next-step", "pwait -x -t 10m -F jobs.pid", "pwait -o -v 1234 5678"}) {
    EXPECT_NE(examples.find(example), std::string::npos) << example;
    EXPECT_NE(man.find(example), std::string::npos) << example << " not in the man page";
    EXPECT_NE(readme.find(example), std::string::npos) << example << " not in README.md";
  }
  for (const Backend& b : backends()) {
    EXPECT_NE(h.out.find(std::string(b.name)), std::string::npos) << b.name << " not in --help";
    EXPECT_NE(man.find(std::string(b.name)), std::string::npos) << b.name << " not in the man page";
  }
}

}  // namespace
}  // namespace pwait
