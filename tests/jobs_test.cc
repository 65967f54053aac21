// Whole jobs (issue 13): a cgroup until it is empty (--cgroup,
// --cgroup-of), with real cgroups made for the test under the cgroup2 mount.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "pwait/cgroup.h"
#include "pwait/proc.h"
#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Result;
using testing::run_pwait;
using testing::Target;
using testing::pwait_args;
using testing::str;

// A cgroup made for one test ("/pwait-test-PID-N" under the cgroup2 mount),
// removed with its sub-cgroups at the end. Skips the test where cgroup2 is
// not mounted or no cgroup can be made (not root, read-only mount).
class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mount = cgroup2_mount();
    if (!mount) GTEST_SKIP() << "no cgroup2 file system is mounted";
    mount_ = *mount;
    static int n = 0;
    path_ = "/pwait-test-" + str(getpid()) + "-" + std::to_string(++n);
    if (mkdir(dir().c_str(), 0755) != 0)
      GTEST_SKIP() << "cannot make a cgroup under " << mount_ << ": " << strerror(errno);
    made_.push_back(dir());
  }
  void TearDown() override {
    // They end (and leave their cgroups) first, the last made first: a
    // later target's nursery holds an earlier one's command pipe too.
    while (!targets_.empty()) targets_.pop_back();
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) rmdir(it->c_str());
  }
  std::string dir(const std::string& sub = "") const { return mount_ + path_ + sub; }
  // Makes sub-cgroup `sub` ("/a").
  void make(const std::string& sub) {
    ASSERT_EQ(mkdir(dir(sub).c_str(), 0755), 0) << strerror(errno);
    made_.push_back(dir(sub));
  }
  // A target (not the test's child) that has moved itself into `sub` before this returns.
  Target& target_in(const std::string& sub) {
    std::string procs = dir(sub) + "/cgroup.procs";
    auto t = std::make_unique<Target>([procs](int in, int out) {
      {
        std::ofstream f(procs);
        f << getpid() << std::flush;
        if (!f) return 97;
      }
      if (write(out, "ready\n", 6) != 6) return 99;
      return testing::exit_on_command(in, out);
    });
    if (t->read_line() != "ready") throw std::runtime_error("the target did not join " + procs);
    targets_.push_back(std::move(t));
    return *targets_.back();
  }
  std::string mount_, path_;
  std::vector<std::string> made_;
  std::vector<std::unique_ptr<Target>> targets_;
};

TEST_F(CgroupTest, EndsWhenTheLastProcessInItOrBelowHasEnded) {
  make("/a");
  Target& top = target_in("");
  Target& below = target_in("/a");
  Command c(pwait_args({"-v", "--cgroup", path_}));
  testing::wait_until_waiting(c.pid());
  top.exit(3);
  top.wait_reaped();
  EXPECT_TRUE(c.running_after(200ms)) << "ended while a sub-cgroup still held a process";
  below.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "cgroup " + path_ + ": empty\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CgroupTest, AProcessMovedOutEmptiesItAndOneMovedInHoldsIt) {
  make("/job");
  make("/elsewhere");
  Target& t = target_in("/job");
  Command c(pwait_args({"-v", "--cgroup", path_ + "/job"}));
  testing::wait_until_waiting(c.pid());
  Target& joined = target_in("/job");  // moved in while watched
  {
    std::ofstream out(dir("/elsewhere") + "/cgroup.procs");
    out << t.pid() << std::flush;  // and the first one moved out
    ASSERT_TRUE(out);
  }
  EXPECT_TRUE(c.running_after(200ms)) << "ended while a process had moved in";
  {
    std::ofstream out(dir("/elsewhere") + "/cgroup.procs");
    out << joined.pid() << std::flush;
    ASSERT_TRUE(out);
  }
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "cgroup " + path_ + "/job: empty\n");
  EXPECT_EQ(kill(t.pid(), 0), 0) << "both still run: only the cgroup emptied";
  EXPECT_EQ(kill(joined.pid(), 0), 0);
}

TEST_F(CgroupTest, NamedAsTheMountPathOrRelativeToo) {
  // Empty already: each form ends at once.
  for (const std::string& name : {path_, dir(), path_.substr(1), path_ + "/"}) {
    Result r = run_pwait({"-j", "--cgroup", name});
    EXPECT_EQ(r.exit_code(), 0) << name << ": " << r.err;
    EXPECT_NE(r.out.find(R"("event":"exited","cgroup":")" + path_ + R"(")"), std::string::npos) << r.out;
  }
}

TEST_F(CgroupTest, CgroupOfAProcessIsItsCgroup) {
  make("/job");
  Target& t = target_in("/job");
  Target& other = target_in("/job");
  Command c(pwait_args({"-j", "--cgroup-of", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  t.exit(0);
  EXPECT_TRUE(c.running_after(200ms)) << "ended with one process of the two in it";
  other.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find(R"("cgroup":")" + path_ + R"(/job")"), std::string::npos) << r.out;
}

TEST_F(CgroupTest, RemovedWhileWatchedHasEnded) {
  make("/gone");
  target_in("");  // keeps the parent populated: only the removal can end the wait for /gone
  Command c(pwait_args({"-v", "--cgroup", path_ + "/gone", "--cgroup", path_, "-t", "10"}));
  testing::wait_until_waiting(c.pid());
  ASSERT_EQ(rmdir(dir("/gone").c_str()), 0) << strerror(errno);
  made_.pop_back();
  auto so_far = c.output_when([](const Result& r) { return !r.out.empty(); });
  EXPECT_EQ(so_far.out, "cgroup " + path_ + "/gone: empty\n");
  while (!targets_.empty()) targets_.pop_back();
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
}

TEST_F(CgroupTest, MixesWithPidsAndTimesOutNamingWhatIsLeft) {
  Target& in = target_in("");
  Target pid_target;
  Result r = run_pwait({"-v", "-t", "0.3", "--cgroup", path_, str(pid_target.pid())});
  EXPECT_EQ(r.exit_code(), 124);
  EXPECT_NE(r.err.find(" " + str(pid_target.pid())), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" cgroup " + path_), std::string::npos) << r.err;
  // --any: the first of them to end.
  Command c(pwait_args({"--any", "--cgroup", path_, str(pid_target.pid())}));
  testing::wait_until_waiting(c.pid());
  in.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 0);
}

TEST_F(CgroupTest, ExitStatusOfACgroupIsNoFailure) {
  Target& t = target_in("");
  Target failing;
  Command c(pwait_args({"-x", "--cgroup", path_, str(failing.pid())}));
  testing::wait_until_waiting(c.pid());
  t.exit(9);
  failing.exit(5);
  EXPECT_EQ(c.wait().exit_code(), 5) << "a cgroup has no status; the process's decides";
}

TEST_F(CgroupTest, AnUnprivilegedUserCanWatchIt) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  Target& t = target_in("");
  Command::Setup setup;
  setup.unprivileged = true;
  Command c({testing::pwait_binary(), "--cgroup", path_}, setup);
  testing::wait_until_waiting(c.pid());
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
}

TEST_F(CgroupTest, BadNamesAreOneLineEach) {
  Result r = run_pwait({"--cgroup", path_ + "/nonexistent"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_EQ(r.err, "pwait: no cgroup '" + path_ + "/nonexistent' under " + mount_ + " (see 'pwait --help')\n");
  r = run_pwait({"--cgroup", "/"});
  EXPECT_EQ(r.exit_code(), 3);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("root cgroup"), std::string::npos) << r.err;
  r = run_pwait({"--cgroup-of", "abc"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("abc"), std::string::npos) << r.err;
  // A process that is not there: a missing target, as a PID operand.
  pid_t gone = testing::unused_pid();
  r = run_pwait({"--cgroup-of", str(gone)});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.err, "pwait: " + str(gone) + ": no such process\n");
  EXPECT_EQ(run_pwait({"-e", "--cgroup-of", str(gone)}).exit_code(), 0);
}

TEST_F(CgroupTest, GivingUpSignalsEveryProcessInIt) {
  make("/a");
  Target& top = target_in("");
  Target& below = target_in("/a");
  Result r = run_pwait({"-t", "0.3", "-s", "TERM", "--cgroup", path_});
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_TRUE(WIFSIGNALED(top.wait_exited()));
  EXPECT_TRUE(WIFSIGNALED(below.wait_exited()));
  Target& again = target_in("");
  r = run_pwait({"-t", "0.3", "-k", "0.1", "--cgroup", path_});  // SIGKILL: cgroup.kill
  EXPECT_EQ(r.exit_code(), 137) << r.err;
  int status = again.wait_exited();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// ---- --tree: a process and all its descendants

// A target that starts processes on command: 'c' a child, 'd' a grandchild
// whose parent (the child) then exits, as a daemon is started (it is
// reparented away from the target), 's' a storm of short-lived ones. Each such process writes nothing and
// waits for a signal; the target writes its PID. Any other byte: exit with it.
int spawner(int in, int out) {
  for (char c; read(in, &c, 1) == 1;) {
    if (c == 's') {  // a fork storm: 200 children, each forking a grandchild and exiting
      for (int i = 0; i < 200; ++i) {
        pid_t p = fork();
        if (p == 0) _exit(fork() < 0 ? 1 : 0);
        if (p > 0) waitpid(p, nullptr, 0);
      }
      if (write(out, "stormed\n", 8) != 8) return 99;
      continue;
    }
    if (c != 'c' && c != 'd') return static_cast<unsigned char>(c);
    int report[2];
    if (pipe(report) != 0) return 98;
    pid_t child = fork();
    if (child < 0) return 98;
    if (child == 0) {
      close(in);
      close(out);
      close(report[0]);
      if (c == 'd') {
        pid_t grandchild = fork();
        if (grandchild < 0) _exit(98);
        if (grandchild > 0) {
          std::string line = std::to_string(grandchild) + "\n";
          _exit(write(report[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 99);
        }
        close(report[1]);
      } else {
        std::string line = std::to_string(getpid()) + "\n";
        if (write(report[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(99);
        close(report[1]);
      }
      for (;;) pause();
    }
    close(report[1]);
    char buf[32] = {};
    ssize_t n = read(report[0], buf, sizeof buf - 1);
    close(report[0]);
    if (c == 'd') waitpid(child, nullptr, 0);  // the daemon's parent has gone: reparented away from us
    if (n <= 0 || write(out, buf, static_cast<std::size_t>(n)) != n) return 99;
  }
  return 0;
}

// Processes the test started through a spawner, killed at the end whatever happens.
struct Spawned {
  std::vector<pid_t> pids;
  ~Spawned() {
    for (pid_t p : pids) kill(p, SIGKILL);
  }
  pid_t take(Target& t, char how) {
    t.send(how);
    pid_t p = std::stoi(t.read_line());
    pids.push_back(p);
    return p;
  }
};

TEST(Tree, EndsWithTheLastDescendantEvenReparentedWithTheRootsStatus) {
  Target root(spawner);
  Spawned spawned;
  pid_t before = spawned.take(root, 'c');  // there when pwait starts: found by the scan
  Command c(pwait_args({"-j", "-x", "--tree", str(root.pid())}));
  testing::wait_until_waiting(c.pid());
  pid_t child = spawned.take(root, 'c');   // started later: a fork event
  pid_t daemon = spawned.take(root, 'd');  // and one that leaves the tree's shape
  root.exit(7);
  root.wait_reaped();
  EXPECT_TRUE(c.running_after(200ms)) << "ended with the root";
  for (pid_t p : {before, child}) ASSERT_EQ(kill(p, SIGTERM), 0);
  EXPECT_TRUE(c.running_after(200ms)) << "ended while a reparented descendant lived";
  ASSERT_EQ(kill(daemon, SIGTERM), 0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 7) << "-x: the root's own status decides";
  EXPECT_NE(r.out.find(R"("pid":)" + str(root.pid())), std::string::npos) << r.out;
  // The three, and the daemon's parent that came and went.
  EXPECT_NE(r.out.find(R"("descendants":4,)"), std::string::npos) << r.out;
}

TEST(Tree, DescendantsEndingFirstLeaveTheRootToDecide) {
  Target root(spawner);
  Spawned spawned;
  pid_t child = spawned.take(root, 'c');
  Command c(pwait_args({"-v", "--tree", str(root.pid())}));
  testing::wait_until_waiting(c.pid());
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_TRUE(c.running_after(200ms)) << "ended with a descendant, the root running";
  root.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, str(root.pid()) + ": exited with status 0; its 1 descendant had ended too\n");
}

TEST(Tree, AForkStormInsideEndsWithTheLastOne) {
  Target root(spawner);
  Spawned spawned;
  Command c(pwait_args({"-j", "--tree", str(root.pid())}));
  testing::wait_until_waiting(c.pid());
  pid_t lasting = spawned.take(root, 'c');
  // 200 short-lived children, each forking a grandchild orphaned at once.
  root.send('s');
  ASSERT_EQ(root.read_line(), "stormed");
  root.exit(0);
  root.wait_reaped();
  EXPECT_TRUE(c.running_after(200ms)) << "ended with a descendant running";
  ASSERT_EQ(kill(lasting, SIGTERM), 0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find(R"("descendants":401,)"), std::string::npos) << "not every fork was seen: " << r.out;
}

TEST(Tree, GivingUpSignalsTheWholeTree) {
  Target root(spawner);
  Spawned spawned;
  pid_t child = spawned.take(root, 'c');
  Command c(pwait_args({"-j", "--tree", "-t", "1", "-s", "TERM", str(root.pid())}));
  testing::wait_until_waiting(c.pid());
  pid_t daemon = spawned.take(root, 'd');  // while watched: a fork event (one before would not be found)
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_TRUE(WIFSIGNALED(root.wait_exited()));
  // Each descendant ended (its state gone or a zombie of init's).
  for (pid_t p : {child, daemon}) {
    auto st = read_proc_stat(p);
    EXPECT_TRUE(!st || st->state == 'Z') << p << " still runs";
  }
  EXPECT_NE(r.out.find(R"("descendants":3)"), std::string::npos) << r.out;
}

TEST(Tree, WithoutTheProcConnectorItScansAndSaysSo) {
  // socket(2) refused: no proc connector, as for an unprivileged user
  // before Linux 6.6. The child is there when pwait starts: its first scan
  // finds it (one started later is found by a scan within 100 ms, unless
  // its parent ends first: the documented limit, not tested here).
  Target root(spawner);
  Spawned spawned;
  pid_t child = spawned.take(root, 'c');
  Command c({SECCOMP_ERRNO, "socket=EPERM", "--", testing::pwait_binary(), "-v", "--tree", str(root.pid())});
  auto so_far = c.output_when([](const Result& r) { return r.err.find('\n') != std::string::npos; });
  EXPECT_NE(so_far.err.find("scanning every 100ms"), std::string::npos) << so_far.err;
  testing::wait_until_waiting(c.pid());
  root.exit(0);
  root.wait_reaped();
  EXPECT_TRUE(c.running_after(300ms)) << "ended with the root, its child running";
  ASSERT_EQ(kill(child, SIGTERM), 0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find("its 1 descendant"), std::string::npos) << r.out;
}

// Out of fds just when a descendant is pinned, pwait fails and says so: it
// never goes on without that descendant and returns while it runs. A first
// run under strace finds which pidfd_open pins the child; the second makes
// that one fail with EMFILE.
TEST(Tree, OutOfFdsForADescendantFailsLoudly) {
  if (access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "needs strace to fail the n-th call";
  Target root(spawner);
  Spawned spawned;
  pid_t child = spawned.take(root, 'c');
  Command::Setup traced;
  traced.env = {"ASAN_OPTIONS=detect_leaks=0"};  // LeakSanitizer cannot run under a tracer
  char log[] = "/tmp/pwait-tree-strace-XXXXXX";
  int fd = mkstemp(log);
  ASSERT_GE(fd, 0);
  close(fd);
  Result dry = Command({"/usr/bin/strace", "-qq", "-o", log, "-e", "trace=pidfd_open", testing::pwait_binary(), "-t",
                        "300ms", "--tree", str(root.pid())},
                       traced)
                   .wait();
  ASSERT_EQ(dry.exit_code(), 124) << dry.err;
  std::ifstream calls(log);
  int n = 0, nth = 0;
  for (std::string line; std::getline(calls, line);) {
    if (line.find("pidfd_open(") == std::string::npos) continue;
    ++n;
    if (line.find("pidfd_open(" + str(child) + ",") != std::string::npos) {
      nth = n;
      break;
    }
  }
  unlink(log);
  ASSERT_GT(nth, 0) << "no pidfd_open of the child " << child;
  Result r = Command({"/usr/bin/strace", "-qq", "-o", "/dev/null", "-e", "trace=pidfd_open", "-e",
                      "inject=pidfd_open:error=EMFILE:when=" + str(nth), testing::pwait_binary(), "-t", "5s",
                      "--tree", str(root.pid())},
                     traced)
                 .wait();
  EXPECT_EQ(r.exit_code(), 3) << r.out << r.err;
  EXPECT_NE(r.err.find("pidfd_open " + str(child) + ": Too many open files"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pwait
