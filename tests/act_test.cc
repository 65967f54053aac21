// Acting while waiting and when giving up (issue 14): -s and -k at the
// timeout, --fail-fast, -p, status on SIGUSR1, --progress on a real
// terminal (tmux) and never on a pipe.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

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
using testing::pwait_args;
using testing::str;

// A target that ignores SIGTERM (only SIGKILL ends it before its command).
int ignores_term(int in, int out) {
  signal(SIGTERM, SIG_IGN);
  if (write(out, "ready\n", 6) != 6) return 99;
  return testing::exit_on_command(in, out);
}

bool killed_by(int status, int sig) { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }

TEST(GivingUp, SignalAtTheTimeoutAndSayHowTheyEnded) {
  Target t;
  Result r = run_pwait({"-v", "-t", "0.3", "-s", "TERM", str(t.pid())});
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_TRUE(killed_by(t.wait_exited(), SIGTERM));
  EXPECT_EQ(r.out, str(t.pid()) + ": killed by signal 15 (SIGTERM)\n");
  EXPECT_NE(r.err.find("sending SIGTERM to: " + str(t.pid())), std::string::npos) << r.err;
}

TEST(GivingUp, KillAfterWhatIgnoresTheSignalIs137) {
  Target stubborn(ignores_term);
  ASSERT_EQ(stubborn.read_line(), "ready");
  Target meek;
  Result r = run_pwait({"-t", "0.3", "-s", "term", "-k", "0.3", str(stubborn.pid()), str(meek.pid())});
  EXPECT_EQ(r.exit_code(), 137) << r.err;
  EXPECT_TRUE(killed_by(meek.wait_exited(), SIGTERM));
  EXPECT_TRUE(killed_by(stubborn.wait_exited(), SIGKILL));
  EXPECT_EQ(r.err, "");
}

TEST(GivingUp, KillAfterAloneWaitsThatLongAfterTheTimeout) {
  Target t;
  Command c(pwait_args({"-t", "0.2", "-k", "5", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  // Past the timeout pwait still waits (the -k grace), and an end in it counts.
  EXPECT_TRUE(c.running_after(500ms));
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 124) << "the timeout passed; no SIGKILL was needed";
  EXPECT_EQ(t.wait_exited(), 0);
}

TEST(GivingUp, APidReusedAfterTheExitIsNeverSignalled) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command::Setup own;
  own.own_process_group = true;
  Command c(pwait_args({"-t", "0.3", "-s", "KILL", str(t.pid())}), own);
  testing::wait_until_waiting(c.pid());
  // pwait stopped while the target ends, is reaped and its PID taken by
  // another process; it resumes past its deadline.
  ASSERT_EQ(kill(c.pid(), SIGSTOP), 0);
  auto st = read_proc_stat(t.pid());
  ASSERT_TRUE(st);
  testing::wait_until_tick_after(st->start_time);
  t.exit(0);
  t.wait_exited();
  t.reap();
  std::string why;
  auto impostor = testing::PidHolder::take(t.pid(), why);
  if (!impostor) {
    kill(c.pid(), SIGCONT);
    GTEST_SKIP() << "cannot reuse the PID here: " << why;
  }
  auto resume_after = std::chrono::steady_clock::now() + 400ms;
  while (std::chrono::steady_clock::now() < resume_after) std::this_thread::yield();  // the deadline must pass
  ASSERT_EQ(kill(c.pid(), SIGCONT), 0);
  Result r = c.wait();
  // Either it saw the end first (0) or the timeout (124); never the impostor killed.
  EXPECT_TRUE(r.exit_code() == 0 || r.exit_code() == 124) << r.exit_code() << " " << r.err;
  auto holder = read_proc_stat(impostor->pid());
  ASSERT_TRUE(holder) << "the process holding the reused PID was killed";
  EXPECT_NE(holder->state, 'Z') << "the process holding the reused PID was killed";
}

TEST(GivingUp, FailFastReturnsAtTheFirstFailureAndStopsTheRest) {
  Target failing, running, fine;
  Command c(pwait_args({"-v", "--fail-fast", "-s", "TERM", str(failing.pid()), str(running.pid()), str(fine.pid())}));
  testing::wait_until_waiting(c.pid());
  fine.exit(0);
  EXPECT_TRUE(c.running_after(200ms)) << "a success is no reason to stop";
  failing.exit(3);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 3) << r.err;
  EXPECT_TRUE(killed_by(running.wait_exited(), SIGTERM));
  EXPECT_NE(r.err.find(str(failing.pid()) + " failed"), std::string::npos) << r.err;
}

TEST(GivingUp, FailFastWithoutSignalLeavesTheRestAlone) {
  Target failing, running;
  Command c(pwait_args({"--fail-fast", "-p", str(running.pid()), str(failing.pid())}));
  testing::wait_until_waiting(c.pid());
  failing.kill(SIGKILL);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 128 + SIGKILL);
  EXPECT_EQ(r.out, str(running.pid()) + "\n");
  EXPECT_EQ(kill(running.pid(), 0), 0) << "a target it was not asked to signal must run on";
}

TEST(GivingUp, PrintRemainingIsAscendingPidsAScriptCanUse) {
  Target a, b, c, done;
  Command w(pwait_args({"-p", "-t", "0.5", str(c.pid()), str(done.pid()), str(a.pid()), str(b.pid())}));
  testing::wait_until_waiting(w.pid());
  done.exit(0);
  Result r = w.wait();
  EXPECT_EQ(r.exit_code(), 124);
  std::vector<pid_t> expected = {a.pid(), b.pid(), c.pid()};
  std::sort(expected.begin(), expected.end());
  std::istringstream lines(r.out);
  std::vector<pid_t> printed;
  for (std::string line; std::getline(lines, line);) printed.push_back(std::stoi(line));
  EXPECT_EQ(printed, expected) << r.out;
  // As a script would: kill $(pwait -p ...).
  Result sh = testing::Command({"/bin/sh", "-c", "kill $(" + testing::pwait_binary() + " -p -t 0.2 " + str(a.pid()) + ")"}).wait();
  EXPECT_EQ(sh.exit_code(), 0) << sh.err;
  EXPECT_TRUE(killed_by(a.wait_exited(), SIGTERM));
}

TEST(GivingUp, PrintRemainingOnAStopSignal) {
  Target t;
  Command c(pwait_args({"-p", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  c.kill(SIGTERM);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 128 + SIGTERM);
  EXPECT_EQ(r.out, str(t.pid()) + "\n");
}

TEST(GivingUp, BadSignalsAndMisuseAreUsageErrors) {
  // Each with what its one line must name.
  for (auto [args, named] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"-s", "NOPE", "-t", "1", "1"}, "'NOPE'"},
           {{"-s", "0", "-t", "1", "1"}, "'0'"},
           {{"-s", "65", "-t", "1", "1"}, "'65'"},
           {{"-s", "TERM", "1"}, "--signal acts when pwait gives up"},
           {{"-k", "1", "1"}, "--kill-after acts when pwait gives up"},
           {{"-k", "soon", "-t", "1", "1"}, "'soon'"}}) {
    Result r = run_pwait(args);
    EXPECT_EQ(r.exit_code(), 2) << named;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
  }
}

TEST(StatusOnDemand, Sigusr1SaysWhatIsLeftAndWaitsOn) {
  Target a, b;
  Command c(pwait_args({"-v", str(a.pid()), str(b.pid())}));
  testing::wait_until_waiting(c.pid());
  a.exit(0);
  c.output_when([](const Result& r) { return r.out.find('\n') != std::string::npos; });  // pwait has seen it
  c.kill(SIGUSR1);
  Result so_far = c.output_when([](const Result& r) { return r.err.find('\n') != std::string::npos; });
  EXPECT_EQ(so_far.err.rfind(str(b.pid()) + " (pwait_tests): waited for ", 0), 0u) << so_far.err;
  EXPECT_EQ(so_far.err.find(str(a.pid())), std::string::npos) << "listed a target that has ended";
  EXPECT_TRUE(c.running_after(100ms)) << "SIGUSR1 ended pwait";
  b.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 0);
}

// ---- --progress

TEST(Progress, NeverOnAPipe) {
  Target t;
  Command::Setup setup;
  setup.env = {"TERM=xterm"};
  Command c(pwait_args({"--progress", "-v", str(t.pid())}), setup);
  testing::wait_until_waiting(c.pid());
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.find('\033'), std::string::npos);
}

// A tmux server of the test's own, with one window of `width` columns.
class Tmux {
 public:
  Tmux() : socket_("pwait-test-" + str(getpid())) {}
  ~Tmux() { run({"kill-server"}); }
  Result run(std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/tmux", "-L", socket_});
    return Command(args).wait();
  }
  std::string screen() { return run({"capture-pane", "-p", "-t", "w"}).out; }
  // Waits until the screen shows what `ok` wants; returns it.
  std::string screen_when(const std::function<bool(const std::string&)>& ok) {
    auto until = std::chrono::steady_clock::now() + testing::kDeadline;
    std::string s;
    while (!ok(s = screen())) {
      if (std::chrono::steady_clock::now() > until) throw testing::DeadlineError("the screen never showed it:\n" + s);
      std::this_thread::yield();
    }
    return s;
  }

 private:
  std::string socket_;
};

int lines_with(const std::string& screen, const std::string& text) {
  int n = 0;
  for (std::size_t at = screen.find(text); at != std::string::npos; at = screen.find(text, at + 1)) ++n;
  return n;
}

TEST(Progress, OnATerminalDrawnRedrawnCutAndCleared) {
  if (access("/usr/bin/tmux", X_OK) != 0) GTEST_SKIP() << "tmux is not installed (apt-get install tmux)";
  Target a, b;
  Tmux tmux;
  std::string cmd = testing::pwait_binary() + " --progress -v " + str(a.pid()) + " " + str(b.pid()) +
                    "; echo pwait-exit-$?";
  Result started = tmux.run({"new-session", "-d", "-s", "w", "-x", "100", "-y", "10", "env", "TERM=xterm", "sh", "-c",
                             cmd + "; exec cat"});
  ASSERT_EQ(started.exit_code(), 0) << started.err;
  std::string s = tmux.screen_when([](const std::string& s) { return s.find("waiting for 2 of 2, ") != std::string::npos; });
  EXPECT_NE(s.find(str(a.pid()) + " pwait_tests"), std::string::npos) << s;
  // Redrawn in place: the time moves on, and it stays one line.
  s = tmux.screen_when([](const std::string& s) { return s.find("of 2, 1.") != std::string::npos; });
  EXPECT_EQ(lines_with(s, "waiting for"), 1) << s;
  // Cut to the width, read again when the terminal is resized.
  ASSERT_EQ(tmux.run({"resize-window", "-t", "w", "-x", "30"}).exit_code(), 0);
  s = tmux.screen_when([](const std::string& s) {
    auto at = s.find("waiting for");
    return at != std::string::npos && s.find('\n', at) - at < 30 && s.find("of 2, 2.") != std::string::npos;
  });
  EXPECT_EQ(lines_with(s, "waiting for"), 1) << s;
  // A -v line clears it first and it comes back under the line.
  a.exit(0);
  s = tmux.screen_when([](const std::string& s) { return s.find("waiting for 1 of 2") != std::string::npos; });
  EXPECT_NE(s.find(str(a.pid()) + ": exited with status 0"), std::string::npos) << s;
  EXPECT_EQ(lines_with(s, "waiting for"), 1) << s;
  // At exit the line is gone.
  b.exit(0);
  s = tmux.screen_when([](const std::string& s) { return s.find("pwait-exit-0") != std::string::npos; });
  EXPECT_EQ(lines_with(s, "waiting for"), 0) << s;
}

}  // namespace
}  // namespace pwait
