// Selecting targets as pgrep does (issue 12): by name, user, parent,
// session, terminal; never pwait or its ancestors; race-free (a PID reused
// between the scan and the pin is never a target); PID:INODE handles,
// /proc/PID operands, --print-handles, -L.

#include "pwait/select.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

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
using testing::str;

// A name no other process here has: pgrep matches the comm (15 bytes at most).
std::string unique_name(const char* tag) { return std::string(tag) + str(getpid() % 100000); }

// A target named `name`, running once this returns; `setup` runs first in it.
std::unique_ptr<Target> named(const std::string& name, std::function<bool()> setup = {}, Reap reap = Reap::at_once) {
  auto t = std::make_unique<Target>(
      [name, setup](int in, int out) {
        if (setup && !setup()) return 97;
        prctl(PR_SET_NAME, name.c_str());
        if (write(out, "ready\n", 6) != 6) return 99;
        return testing::exit_on_command(in, out);
      },
      reap);
  if (t->read_line() != "ready") throw std::runtime_error("the named target did not start");
  return t;
}

using testing::pwait_args;

TEST(Select, ByNameAndSaysWhatItMatched) {
  std::string name = unique_name("pwsel");
  auto a = named(name), b = named(name), other = named(name + "z");
  Command c(pwait_args({"-v", "--exact", "-m", name}));
  Result so_far = c.output_when([](const Result& r) { return std::count(r.out.begin(), r.out.end(), '\n') >= 2; });
  EXPECT_NE(so_far.out.find("waiting for " + name + " (pid " + str(a->pid()) + ")\n"), std::string::npos) << so_far.out;
  EXPECT_NE(so_far.out.find("waiting for " + name + " (pid " + str(b->pid()) + ")\n"), std::string::npos) << so_far.out;
  testing::wait_until_waiting(c.pid());
  a->exit(0);
  EXPECT_TRUE(c.running_after(200ms)) << "returned after one of two";
  b->exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out.find(str(other->pid())), std::string::npos) << "--exact matched a longer name";
}

TEST(Select, NothingMatchedIsExit1SilentlyOr0WithExited) {
  std::string name = unique_name("pwnone");
  Result r = run_pwait({"-m", name});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  r = run_pwait({"-v", "-m", name});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.err, "pwait: no process matched\n");
  EXPECT_EQ(run_pwait({"-e", "-m", name}).exit_code(), 0);
}

TEST(Select, MatchesJoinOperandsAndCountOnce) {
  std::string name = unique_name("pwjoin");
  auto a = named(name);
  Target plain(testing::exit_on_command, Reap::on_request);
  Command c(pwait_args({"-j", "-m", name, str(a->pid()), str(plain.pid())}));
  testing::wait_until_waiting(c.pid());
  a->exit(0);
  plain.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  // JSON names every target as it was when watching began, with its pidfs inode.
  EXPECT_NE(r.out.find("\"pid\":" + str(a->pid()) + ",\"name\":\"" + name + "\",\"inode\":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"pid\":" + str(plain.pid()) + ",\"name\":\"pwait_tests\""), std::string::npos) << r.out;
}

TEST(Select, ByUserGroupParentSessionTerminal) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to make a target of another user";
  std::string name = unique_name("pwusr");
  auto nobody = named(name, [] { return setgroups(0, nullptr) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                                        setresuid(65534, 65534, 65534) == 0; });
  auto st = read_proc_stat(nobody->pid());
  ASSERT_TRUE(st);
  testing::wait_until_tick_after(st->start_time);  // so that --newest and --oldest have one answer
  auto mine = named(name);
  auto pick = [&](std::vector<std::string> criteria) {
    criteria.insert(criteria.end(), {"-m", name, "--print-handles"});
    Result r = run_pwait(criteria);
    std::set<pid_t> picked;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) picked.insert(std::stoi(line.substr(0, line.find(':'))));
    return picked;
  };
  EXPECT_EQ(pick({"--euid", "nobody"}), std::set<pid_t>{nobody->pid()});
  EXPECT_EQ(pick({"--uid", "65534"}), std::set<pid_t>{nobody->pid()});
  EXPECT_EQ(pick({"--group", "nogroup"}), std::set<pid_t>{nobody->pid()});
  EXPECT_EQ(pick({"--euid", "root,nobody"}), (std::set<pid_t>{nobody->pid(), mine->pid()}));
  EXPECT_EQ(pick({"--parent", str(mine->parent())}), std::set<pid_t>{mine->pid()});
  EXPECT_EQ(pick({"--session", str(getsid(mine->pid()))}), (std::set<pid_t>{nobody->pid(), mine->pid()}));
  EXPECT_EQ(pick({"--newest"}), std::set<pid_t>{mine->pid()});
  EXPECT_EQ(pick({"--oldest"}), std::set<pid_t>{nobody->pid()});
  EXPECT_TRUE(pick({"--older", "1h"}).empty());
  EXPECT_TRUE(pick({"--terminal", "glass"}).empty()) << "a name that is no terminal matches nothing";
  Result bad = run_pwait({"--uid", ",", "-m", name});
  EXPECT_EQ(bad.exit_code(), 2);
  EXPECT_NE(bad.err.find("--uid"), std::string::npos) << bad.err;
  bad = run_pwait({"--euid", "no-such-user-here", "-m", name});
  EXPECT_EQ(bad.exit_code(), 2);
  EXPECT_NE(bad.err.find("'no-such-user-here'"), std::string::npos) << bad.err;
}

// (By terminal: PeerProcpsPgrep.PgrepMatchesOnTty, on a pty of its own.)

TEST(Select, NeverItselfNorItsAncestors) {
  // pwait's parent, a shell under a name of its own, matches the pattern.
  std::string name = unique_name("pwanc");
  std::string shell = ::testing::TempDir() + name;
  ASSERT_EQ(symlink("/bin/sh", shell.c_str()), 0);
  Result r = Command({shell, "-c", testing::pwait_binary() + " -v -m '^" + name + "$'; exit $?"}).wait();
  unlink(shell.c_str());
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_NE(r.err.find("not waiting for " + name), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pwait's parent"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no process matched"), std::string::npos) << r.err;
}

// A target matched by the scan, killed, reaped, and its PID taken by a
// process of the same name before the pin: the pin sees another process
// (another start time) and never takes it for the target.
TEST(Select, APidReusedBetweenTheScanAndThePinIsNotATarget) {
  std::string name = unique_name("pwreuse");
  auto t = named(name);
  auto st = read_proc_stat(t->pid());
  ASSERT_TRUE(st);
  testing::wait_until_tick_after(st->start_time);
  Criteria c;
  c.pattern = "^" + name + "$";
  TargetSet set;
  std::unique_ptr<testing::PidHolder> impostor;
  std::string why;
  auto selected = select_processes(c, set, [&](pid_t pid) {
    ASSERT_EQ(pid, t->pid());
    t->kill(SIGKILL);
    t->wait_reaped();
    if (auto held = testing::PidHolder::take(pid, why, name.c_str()))
      impostor = std::make_unique<testing::PidHolder>(std::move(*held));
    // Once it has taken the name, it matches what the scan matched.
    for (auto until = std::chrono::steady_clock::now() + 5s; impostor && std::chrono::steady_clock::now() < until;) {
      auto again = read_proc_stat(pid);
      if (again && again->comm == name) break;
      usleep(1000);  // polling a condition, with a deadline
    }
    auto again = read_proc_stat(pid);
    ASSERT_TRUE(!impostor || (again && again->comm == name)) << "the impostor never took the name";
  });
  if (!impostor) GTEST_SKIP() << "cannot reuse the PID here: " << why;
  EXPECT_EQ(set.take().pinned.size(), 0u) << "the impostor became a target";
  EXPECT_TRUE(selected.empty());
}

TEST(Handles, PrintedThenWaitedForExactly) {
  if (!pidfd_features().inode) GTEST_SKIP() << "PID:INODE needs pidfs (Linux 6.9)";
  Target t(testing::exit_on_command, Reap::on_request);
  pid_t gone = testing::unused_pid();
  Result h = run_pwait({"--print-handles", str(t.pid()), str(gone)});
  EXPECT_EQ(h.exit_code(), 1) << "one was missing";
  EXPECT_EQ(h.err, "pwait: " + str(gone) + ": no such process\n");
  std::string handle = h.out.substr(0, h.out.find('\n'));
  ASSERT_EQ(handle.rfind(str(t.pid()) + ":", 0), 0u) << h.out;
  Command c(pwait_args({"-x", handle}));
  testing::wait_until_waiting(c.pid());
  t.exit(3);
  EXPECT_EQ(c.wait().exit_code(), 3);
  std::string inode = handle.substr(handle.find(':') + 1);
  Result wrong = run_pwait({str(t.pid()) + ":" + std::to_string(std::stoull(inode) + 1)});
  EXPECT_EQ(wrong.exit_code(), 1) << "another inode is another process: missing";
  Result proc = run_pwait({"-t", "0.1", "/proc/" + str(getpid())});
  EXPECT_EQ(proc.exit_code(), 124) << "/proc/PID names PID";
}

TEST(Pidfile, LockedOnlyWithLogpidfile) {
  Target t(testing::exit_on_command, Reap::on_request);
  std::string file = ::testing::TempDir() + "pwait_daemon_" + str(getpid()) + ".pid";
  std::ofstream(file) << t.pid() << "\n";
  Result stale = run_pwait({"-L", "-F", file});
  EXPECT_EQ(stale.exit_code(), 3);
  EXPECT_NE(stale.err.find("is not locked by its daemon"), std::string::npos) << stale.err;
  {
    // The daemon holds it locked, as daemons do with flock or lockf.
    for (bool use_flock : {true, false}) {
      Target daemon([file, use_flock](int in, int out) {
        int fd = open(file.c_str(), O_RDWR);
        if (fd < 0) return 98;
        if (use_flock ? flock(fd, LOCK_EX) != 0 : lockf(fd, F_LOCK, 0) != 0) return 97;
        if (write(out, "locked\n", 7) != 7) return 99;
        return testing::exit_on_command(in, out);
      });
      ASSERT_EQ(daemon.read_line(), "locked");
      Result r = run_pwait({"-L", "-t", "0.1", "-F", file});
      EXPECT_EQ(r.exit_code(), 124) << (use_flock ? "flock: " : "lockf: ") << r.err;
    }
  }
  unlink(file.c_str());
}

}  // namespace
}  // namespace pwait
