// Hostile and unlucky environments (issue 11): closed or full standard
// files, a reader that stops reading, /proc mounted hidepid=2, ignored stop
// signals, user and PID namespaces, a PID reused within one clock tick,
// little memory. Each case through the built binary.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
using Steady = std::chrono::steady_clock;

using testing::str;
const std::string& pwait() {
  static const std::string binary = testing::pwait_binary();
  return binary;
}

// Defect 1: a closed or full stderr never turns an exit code into an abort,
// and never cuts a wait short.
TEST(Hostile, ClosedOrFullStderr) {
  Result r = Command({"/bin/sh", "-c", pwait() + " 0 2>&-"}).wait();
  EXPECT_EQ(r.exit_code(), 2);
  Target t;
  r = Command({"/bin/sh", "-c", pwait() + " -v -t 0.2 " + str(t.pid()) + " 2>/dev/full"}).wait();
  EXPECT_EQ(r.exit_code(), 124);
  Target live(testing::exit_on_command, Reap::on_request);
  Command c({"/bin/sh", "-c", "exec " + pwait() + " " + str(live.pid()) + " " + str(testing::unused_pid()) + " 2>&-"});
  EXPECT_TRUE(c.running_after(300ms)) << "returned before the live target ended";
  live.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 1);
}

// Defect 10: output lost to a full or closed stdout is an error, named.
TEST(Hostile, StdoutThatRefusesIsAnError) {
  for (std::string redirect : {">/dev/full", ">&-"}) {
    Target t(testing::exit_on_command, Reap::on_request);
    Command c({"/bin/sh", "-c", "exec " + pwait() + " -j " + str(t.pid()) + " " + redirect});
    testing::wait_until_waiting(c.pid());
    t.exit(0);
    Result r = c.wait();
    EXPECT_EQ(r.exit_code(), 3) << redirect << ": " << r.err;
    EXPECT_EQ(r.err.rfind("pwait: write to standard output: ", 0), 0u) << redirect << ": " << r.err;
  }
}

// Defects 5 and 16: a reader that stops reading never stops the loop: pwait
// keeps waiting in epoll (not in a write), a stop signal acts at once, and
// once the reader reads, every line arrives.
TEST(Hostile, StalledReaderDoesNotBlockTheLoop) {
  TargetGroup group(800);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Fd read_end(p[0]), write_end(p[1]);
  std::string list;
  for (pid_t pid : group.pids()) list += str(pid) + "\n";
  Command::Setup setup;
  setup.stdin_data = list;
  setup.stdout_fd = write_end.get();
  Command c({pwait(), "-j", "-t", "60", "-F", "-"}, setup);
  write_end.reset();
  testing::wait_until_waiting(c.pid());
  group.finish();  // 800 exited lines: more than the pipe holds
  // The pipe fills and pwait still waits in epoll_wait, not in a write.
  testing::wait_until_waiting(c.pid());
  EXPECT_TRUE(c.running_after(300ms));
  testing::wait_until_waiting(c.pid());
  auto signalled = Steady::now();
  c.kill(SIGTERM);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 128 + SIGTERM) << r.err;
  EXPECT_LT(Steady::now() - signalled, 2s);
}

TEST(Hostile, StalledReaderGetsEveryLineOnceItReads) {
  TargetGroup group(800);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Fd read_end(p[0]), write_end(p[1]);
  std::string list;
  for (pid_t pid : group.pids()) list += str(pid) + "\n";
  Command::Setup setup;
  setup.stdin_data = list;
  setup.stdout_fd = write_end.get();
  Command c({pwait(), "-j", "-F", "-"}, setup);
  write_end.reset();
  testing::wait_until_waiting(c.pid());
  group.finish();
  testing::wait_until_waiting(c.pid());
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = read(read_end.get(), buf, sizeof buf)) > 0;) all.append(buf, static_cast<std::size_t>(n));
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 800);
}

// Defect 4: a stop signal ignored when pwait started (nohup, a script's
// background job) stays ignored.
TEST(Hostile, IgnoredStopSignalsStayIgnored) {
  for (std::string sig : {"HUP", "INT"}) {
    Target t(testing::exit_on_command, Reap::on_request);
    Command c({"/bin/sh", "-c", "trap '' " + sig + "; exec " + pwait() + " " + str(t.pid())});
    testing::wait_until_waiting(c.pid());
    c.kill(sig == "HUP" ? SIGHUP : SIGINT);
    EXPECT_TRUE(c.running_after(200ms)) << "SIG" << sig << " ended pwait";
    t.exit(0);
    EXPECT_EQ(c.wait().exit_code(), 0) << sig;
  }
}

// Runs `args` as nobody in a mount namespace with /proc mounted hidepid=2.
std::optional<Command> nobody_with_hidepid(std::vector<std::string> args, Command::Setup setup = {}) {
  std::string cmd = "mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups " +
                    testing::unprivileged_copy_of_pwait();
  for (auto& a : args) cmd += " " + a;
  return std::optional<Command>(std::in_place, std::vector<std::string>{"/usr/bin/unshare", "-m", "--propagation",
                                                                        "private", "/bin/sh", "-c", cmd},
                                std::move(setup));
}

bool hidepid_possible() {
  if (!testing::can_drop_privileges()) return false;
  Result r = Command({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                      "mount -t proc -o hidepid=2 proc /proc"})
                 .wait();
  return r.exit_code() == 0;
}

// Defect 2: with /proc hiding other users' processes, a live or unreaped
// target is never reported as ended: pwait waits correctly, or refuses.
TEST(Hostile, HidepidNeverTakesALiveTargetForEnded) {
  if (!hidepid_possible()) GTEST_SKIP() << "needs root and a mount namespace to mount /proc with hidepid=2";
  {
    Target zombie(testing::exit_on_command, Reap::on_request);  // root's
    zombie.exit(0);
    zombie.wait_exited();
    auto c = nobody_with_hidepid({"-r", str(zombie.pid())});
    EXPECT_TRUE(c->running_after(500ms)) << "returned before the reap: " << c->wait().err;
    zombie.reap();
    Result r = c->wait();
    EXPECT_EQ(r.exit_code(), 0) << r.err;
  }
  for (std::string b : {"pidfd", "netlink", "poll", "auto"}) {
    Target live(testing::exit_on_command, Reap::on_request);
    auto c = nobody_with_hidepid({"-b", b, "-v", str(live.pid())});
    if (!c->running_after(500ms)) {
      Result r = c->wait();
      // A backend that cannot serve here refuses (exit 3); it never says the target ended.
      EXPECT_EQ(r.exit_code(), 3) << b << ": " << r.out << r.err;
      EXPECT_EQ(r.out, "") << b;
      continue;
    }
    live.exit(0);
    Result r = c->wait();
    EXPECT_EQ(r.exit_code(), 0) << b << ": " << r.err;
    // Only the proc connector tells another user's status here (the zombie's /proc is hidden twice over).
    std::string how = b == "netlink" ? "exited with status 0" : "exited (status unknown)";
    EXPECT_EQ(r.out, str(live.pid()) + ": " + how + "\n") << b;
  }
  {
    // Past a low hard fd limit, pinned by identity alone.
    TargetGroup group(100);
    std::vector<std::string> args = {"-v"};
    for (pid_t pid : group.pids()) args.push_back(str(pid));
    Command::Setup low;
    low.nofile_soft = 80;
    low.nofile_hard = 80;
    auto c = nobody_with_hidepid(args, low);
    EXPECT_TRUE(c->running_after(500ms)) << c->wait().err;
    group.finish();
    Result r = c->wait(30s);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err.find("no such process"), std::string::npos) << r.err;
  }
}

// Defect 11: capabilities held only inside a user namespace are not taken
// for the real thing: auto falls back; -x gives the status or 125.
TEST(Hostile, UserNamespaceFallsBack) {
  Result probe = Command({"/usr/bin/unshare", "-Ur", "/bin/true"}).wait();
  if (probe.exit_code() != 0) GTEST_SKIP() << "cannot create a user namespace here";
  Target t(testing::exit_on_command, Reap::on_request);
  Command c({"/usr/bin/unshare", "-Ur", pwait(), "-x", str(t.pid())});
  testing::wait_until_waiting(c.pid());
  t.exit(4);
  Result r = c.wait();
  EXPECT_TRUE(r.exit_code() == 4 || r.exit_code() == 125) << r.exit_code() << " " << r.err;
  Result forced = Command({"/usr/bin/unshare", "-Ur", pwait(), "-b", "ptrace", str(t.pid())}).wait();
  EXPECT_EQ(forced.exit_code(), 3);
  EXPECT_NE(forced.err.find("CAP_SYS_PTRACE in the initial user namespace"), std::string::npos) << forced.err;
}

// Defect 13: the proc connector's answer is waited for no longer than -t
// allows (in a new PID namespace the kernel never answers).
TEST(Hostile, NetlinkSetUpHonoursTheTimeout) {
  Result probe = Command({"/usr/bin/unshare", "-pf", "--mount-proc", "/bin/true"}).wait();
  if (probe.exit_code() != 0) GTEST_SKIP() << "cannot create a PID namespace here";
  auto started = Steady::now();
  Result r = Command({"/usr/bin/unshare", "-pf", "--mount-proc", "/bin/sh", "-c",
                      "sleep 5 & exec " + pwait() + " -b netlink -x -j -t 0.1 $!"})
                 .wait();
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_LT(Steady::now() - started, 450ms) << "waited for the answer past the timeout";
}

// Defect 12: a target killed and its PID reused within the same clock tick
// (clone3 set_tid): the start time cannot tell them apart, the pidfs inode
// can. Every backend ends at the target's own end, never the impostor's.
TEST(Hostile, PidReusedWithinTheSameTick) {
  if (!pidfd_features().inode) GTEST_SKIP() << "without pidfs (Linux 6.9) the start time is the identity, with its one-tick limit";
  for (std::string b : {"poll", "netlink", "pidfd"}) {
    Target t(testing::exit_on_command, Reap::on_request);
    std::vector<std::string> args = {pwait(), "-b", b, "-x", "-v", str(t.pid())};
    if (b == "poll") args.insert(args.begin() + 3, {"--interval", "1s"});
    Command c(args);
    testing::wait_until_waiting(c.pid());
    t.kill(SIGKILL);
    t.wait_exited();
    t.reap();
    std::string why;
    auto impostor = testing::PidHolder::take(t.pid(), why);
    if (!impostor) GTEST_SKIP() << "cannot reuse the PID here: " << why;
    Result r = c.wait();
    EXPECT_EQ(r.exit_code(), 128 + SIGKILL) << b << ": " << r.out << r.err;
    EXPECT_EQ(kill(impostor->pid(), 0), 0) << b;
  }
}

// Defect 15: little address space: pwait works, or names what failed.
TEST(Hostile, LittleMemory) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no build under it runs in 8 MB";
#endif
  Target t;
  for (std::string b : {"pidfd", "netlink", "ptrace", "poll"}) {
    Result r = Command({"/bin/sh", "-c", "ulimit -v 8000; exec " + pwait() + " -b " + b + " -t 0.2 " + str(t.pid())}).wait();
    EXPECT_TRUE(r.exit_code() == 124 || (r.exit_code() == 3 && r.err.find("pwait: ") == 0)) << b << ": " << r.err;
    EXPECT_EQ(r.err.find("Resource temporarily unavailable\n"), std::string::npos) << b << ": " << r.err;
  }
}

}  // namespace
}  // namespace pwait
