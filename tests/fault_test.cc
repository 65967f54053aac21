// Fault injection on the real binary (issue 11): system calls made to fail
// as a container's seccomp profile, an older kernel or an unlucky moment
// would, through tests/tools/seccomp_errno (every call of a kind) and
// strace's inject (the n-th call). Each must give the documented exit code
// or a correct fallback, lose no target, leak no fd and leave the target as
// it was.

#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Reap;
using testing::Result;
using testing::Target;
using testing::TargetGroup;
using testing::str;

// pwait with `args` under seccomp rules ("pidfd_open=ENOSYS").
std::vector<std::string> under_seccomp(std::vector<std::string> rules, std::vector<std::string> args) {
  std::vector<std::string> argv = {SECCOMP_ERRNO};
  argv.insert(argv.end(), rules.begin(), rules.end());
  argv.push_back("--");
  argv.push_back(testing::pwait_binary());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

bool have_strace() { return access("/usr/bin/strace", X_OK) == 0; }

// LeakSanitizer cannot run under a tracer (strace): the ASan build of pwait
// runs without it there (ASan itself stays on).
Command::Setup traced() {
  Command::Setup s;
  s.env = {"ASAN_OPTIONS=detect_leaks=0"};
  return s;
}

// pwait with `args` under strace failing one system call: "pidfd_open:error=EMFILE:when=3".
std::vector<std::string> under_strace(const std::string& call, const std::string& inject, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/strace", "-qq", "-o", "/dev/null", "-e", "trace=" + call,
                                   "-e", "inject=" + call + ":" + inject, testing::pwait_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// What the fds of process `pid` are: "socket:[123]", "anon_inode:[pidfd]", ...
std::vector<std::string> fds_of(pid_t pid) {
  std::vector<std::string> what;
  std::string dir = "/proc/" + str(pid) + "/fd/";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char buf[256];
      ssize_t n = readlink((dir + e->d_name).c_str(), buf, sizeof buf);
      if (e->d_name[0] != '.' && n > 0) what.emplace_back(buf, static_cast<std::size_t>(n));
    }
    closedir(d);
  }
  return what;
}

std::size_t count_like(const std::vector<std::string>& fds, const std::string& kind) {
  return static_cast<std::size_t>(
      std::count_if(fds.begin(), fds.end(), [&](const std::string& f) { return f.find(kind) != std::string::npos; }));
}

// The pwait that strace runs: its child.
pid_t traced_pwait(const Command& strace) { return testing::wait_for_child_named(strace.pid(), "pwait"); }

// Untouched: still there (running, or a zombie as its parent left it), not stopped or traced.
void expect_untouched(pid_t pid) {
  EXPECT_EQ(kill(pid, 0), 0);
  auto st = testing::Command({"/bin/sh", "-c", "grep -E '^(State|TracerPid):' /proc/" + str(pid) + "/status"}).wait();
  EXPECT_NE(st.out.find("TracerPid:\t0"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("(stopped)"), std::string::npos) << st.out;
}

TEST(Fault, NoPidfdsAtAllAsInAContainerOrBeforeLinux53) {
  for (std::string err : {"ENOSYS", "EPERM"}) {
    Result list = Command(under_seccomp({"pidfd_open=" + err}, {"--list-backends"})).wait();
    EXPECT_NE(list.out.find("pidfd    unavailable pidfd_open: "), std::string::npos) << err << list.out;
    Target a(testing::exit_on_command, Reap::on_request), b(testing::exit_on_command, Reap::on_request);
    Command c(under_seccomp({"pidfd_open=" + err}, {"-x", "-v", str(a.pid()), str(b.pid())}));
    testing::wait_until_waiting(c.pid());  // seccomp_errno execs pwait in place
    auto fds = fds_of(c.pid());
    EXPECT_EQ(count_like(fds, "pidfd"), 0u);
    EXPECT_LE(count_like(fds, "socket:"), 1u) << "one proc connector socket at most";
    EXPECT_EQ(count_like(fds, "/proc/"), 0u) << "no /proc file left open";
    a.exit(0);
    b.exit(5);
    Result r = c.wait();
    EXPECT_EQ(r.exit_code(), 5) << err << ": " << r.out << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  }
}

TEST(Fault, TooManyOpenFilesAtTheThirdPidfd) {
  if (!have_strace()) GTEST_SKIP() << "needs strace for the n-th call";
  Target a, b, c;
  Result r = Command(under_strace("pidfd_open", "error=EMFILE:when=3", {str(a.pid()), str(b.pid()), str(c.pid())}), traced()).wait();
  EXPECT_EQ(r.exit_code(), 3) << r.err;
  EXPECT_NE(r.err.find("pidfd_open"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Too many open files"), std::string::npos) << r.err;
  for (Target* t : {&a, &b, &c}) expect_untouched(t->pid());
}

TEST(Fault, OutOfMemoryForTheLoopIsNamed) {
  Target t;
  Result r = Command(under_seccomp({"epoll_create1=ENOMEM"}, {str(t.pid())})).wait();
  EXPECT_EQ(r.exit_code(), 3);
  EXPECT_EQ(r.err, "pwait: epoll_create1: Cannot allocate memory\n");
  expect_untouched(t.pid());
}

TEST(Fault, InterruptedWaitsChangeNothing) {
  if (!have_strace()) GTEST_SKIP() << "needs strace for the n-th call";
  Target t(testing::exit_on_command, Reap::on_request);
  Command c(under_strace("epoll_wait", "error=EINTR:when=1..200", {"-x", str(t.pid())}), traced());
  testing::wait_until_waiting(traced_pwait(c));
  t.exit(6);
  EXPECT_EQ(c.wait().exit_code(), 6);
}

TEST(Fault, NetlinkLosesEventsAndRecovers) {
  if (!have_strace()) GTEST_SKIP() << "needs strace for the n-th call";
  TargetGroup group(50, Reap::on_request);
  std::vector<std::string> args = {"-b", "netlink", "-x"};
  for (pid_t p : group.pids()) args.push_back(str(p));
  // The first reads after the exits say the buffer overflowed.
  Command c(under_strace("recvmmsg", "error=ENOBUFS:when=3..5", args), traced());
  pid_t pw = traced_pwait(c);
  testing::wait_until_waiting(pw);
  group.finish();
  Result r = c.wait(30s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
}

// The n-th read or write: the ASan runtime makes reads and writes of its own
// at start, so these count pwait's calls only in the plain build.
#ifdef __SANITIZE_ADDRESS__
#define SKIP_UNDER_ASAN() GTEST_SKIP() << "the ASan runtime's own reads and writes shift the n-th call"
#else
#define SKIP_UNDER_ASAN() (void)0
#endif

TEST(Fault, ProcReadFailingMidwayIsNamed) {
  if (!have_strace()) GTEST_SKIP() << "needs strace for the n-th call";
  SKIP_UNDER_ASAN();
  Target t(testing::exit_on_command, Reap::on_request);
  // pwait reads nothing while it sets up (pidfds pin, /proc is not read):
  // the first read is of the zombie's /proc/PID/stat, and it fails.
  Command c(under_strace("read", "error=EIO:when=1+", {"-x", str(t.pid())}), traced());
  testing::wait_until_waiting(traced_pwait(c));
  t.exit(2);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 3) << r.err;
  EXPECT_NE(r.err.find("read /proc/" + str(t.pid()) + "/stat: Input/output error"), std::string::npos) << r.err;
  expect_untouched(t.pid());  // a zombie still, as its parent left it
}

TEST(Fault, StdoutWriteFailingIsNamed) {
  if (!have_strace()) GTEST_SKIP() << "needs strace for the n-th call";
  SKIP_UNDER_ASAN();
  Target t(testing::exit_on_command, Reap::on_request);
  Command c(under_strace("write", "error=EIO:when=1", {"-v", str(t.pid())}), traced());
  testing::wait_until_waiting(traced_pwait(c));
  t.exit(0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 3) << r.err;
  EXPECT_EQ(r.err, "pwait: write to standard output: Input/output error\n");
}

TEST(Fault, NoNetlinkAndNoReapedStatusStillServe) {
  // The connector refused (as in a network namespace) and the kernel keeping
  // no status for a reaped process (before Linux 6.15): -x still works, with
  // the status from the zombie.
  Target t(testing::exit_on_command, Reap::on_request);
  std::vector<std::string> rules = {"socket@0:16=EAFNOSUPPORT", "ioctl@1:0xc048ff0b=ENOTTY"};
  Result list = Command(under_seccomp(rules, {"--list-backends"})).wait();
  EXPECT_NE(list.out.find("netlink  unavailable"), std::string::npos) << list.out;
  Command c(under_seccomp(rules, {"-x", "-j", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  t.exit(4);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 4) << r.err;
  EXPECT_NE(r.out.find("\"status\":{\"code\":4}"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace pwait
