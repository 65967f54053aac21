// The command-line contract of issue 10, point by point, through the built
// binary, on targets that are not pwait's children (except where being
// pwait's own child is the point).

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

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

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class TempPath {
 public:
  explicit TempPath(const std::string& name)
      : path_(::testing::TempDir() + "pwait_" + name + "_" + str(getpid())) {}
  ~TempPath() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& content) const {
    std::ofstream(path_, std::ios::binary) << content;
    return path_;
  }

 private:
  std::string path_;
};

// Point 1: -t 0 is no timeout.
TEST(Contract, TimeoutZeroWaitsForTheTarget) {
  Target t(testing::exit_on_command, Reap::on_request);
  Command c(pwait_args({"-t", "0", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  EXPECT_TRUE(c.running_after(200ms)) << "exited at once";
  t.exit(0);
  EXPECT_EQ(c.wait().exit_code(), 0);
}

// Point 2: the timeout covers reading a pidfile on a pipe whose writer falls
// silent; a target read from it that ends meanwhile has ended, not gone missing.
TEST(Contract, TimeoutCoversAPidfileOnAPipe) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Fd read_end(p[0]), write_end(p[1]);
  Target t;  // reaped at once by its parent
  std::string line = str(t.pid()) + "\n";
  ASSERT_EQ(write(write_end.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
  Command::Setup setup;
  setup.stdin_fd = read_end.get();
  auto started = std::chrono::steady_clock::now();
  Command c(pwait_args({"-v", "-t", "1", "-F", "-"}), setup);
  read_end.reset();
  testing::wait_until_holds_pidfd(c.pid(), t.pid());
  t.exit(0);
  t.wait_reaped();
  Result r = c.wait();  // the writer stays open and silent
  EXPECT_EQ(r.exit_code(), 124) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_EQ(r.err.find("no such process"), std::string::npos) << r.err;
  EXPECT_EQ(r.err, "pwait: timed out after 1s, before the end of the pidfiles; nothing left running\n")
      << "an ended target is not still running";
}

// Point 3: nothing to wait for is not a usage error when PIDs were asked for.
TEST(Contract, EmptyPidfileMeansNothingToWaitFor) {
  TempPath empty("empty");
  empty.write("# no jobs today\n\n");
  Result r = run_pwait({"-F", empty.path()});
  EXPECT_EQ(r.exit_code(), 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  Command::Setup none;
  none.stdin_data = "";
  r = run_pwait({"-F", "-"}, none);
  EXPECT_EQ(r.exit_code(), 1) << r.err;
  EXPECT_EQ(r.err, "");
  r = run_pwait({"-e", "-F", empty.path()});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  r = run_pwait({"-v", "-F", empty.path()});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("pwait: ", 0), 0u) << r.err;
  r = run_pwait({});
  EXPECT_EQ(r.exit_code(), 2) << "no operand and no -F stays a usage error";
}

// Point 4: a missing PID is said once.
TEST(Contract, MissingPidSaidOnce) {
  pid_t gone = testing::unused_pid();
  Result r = run_pwait({"-v", str(gone)});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "pwait: " + str(gone) + ": no such process\n");
  r = run_pwait({"-v", "-e", str(gone)});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.out, str(gone) + ": no such process\n");
  EXPECT_EQ(r.err, "");
}

// Point 5: a shell reaps its background job at once: no warning, ever.
TEST(Contract, NoWarningWhenTheShellReapsAtOnce) {
  for (std::string shell : {"/bin/bash", "/bin/dash"}) {
    if (access(shell.c_str(), X_OK) != 0) continue;
    TempPath fifo("job_" + shell.substr(5));
    ASSERT_EQ(mkfifo(fifo.path().c_str(), 0600), 0);
    Command c({shell, "-c", "{ read x < " + fifo.path() + "; } & " + testing::pwait_binary() + " -r -t 5 $!"});
    Fd w(open(fifo.path().c_str(), O_WRONLY | O_CLOEXEC));  // the job opened it
    ASSERT_TRUE(w);
    testing::wait_until_waiting(testing::wait_for_child_named(c.pid(), "pwait"));
    ASSERT_EQ(write(w.get(), "go\n", 3), 3);
    Result r = c.wait();
    EXPECT_EQ(r.exit_code(), 0) << shell << ": " << r.err;
    EXPECT_EQ(r.err, "") << shell;
  }
}

// Point 5: a parent that does not reap (here the test, pwait's own parent)
// earns the warning, once the zombie has lasted.
TEST(Contract, WarningWhenPwaitsParentLeavesTheZombie) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);  // a zombie now
  Command c(pwait_args({"-r", str(child)}));
  Result so_far = c.output_when([](const Result& r) { return r.err.find('\n') != std::string::npos; });
  EXPECT_NE(so_far.err.find("warning: " + str(child) + " exited"), std::string::npos) << so_far.err;
  EXPECT_NE(so_far.err.find("pwait's own parent"), std::string::npos) << so_far.err;
  EXPECT_TRUE(c.running_after(100ms));
  waitpid(child, nullptr, 0);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(lines(r.err), 1) << "warned more than once: " << r.err;
}

// Point 7: a well-formed PID that cannot exist is a missing process.
TEST(Contract, PidAtOrAbovePidMaxIsMissing) {
  for (pid_t pid : {pid_max(), pid_max() + 1, 2147483647}) {
    Result r = run_pwait({str(pid)});
    EXPECT_EQ(r.exit_code(), 1) << pid << ": " << r.err;
    EXPECT_EQ(r.err, "pwait: " + str(pid) + ": no such process\n");
    EXPECT_EQ(run_pwait({"-e", str(pid)}).exit_code(), 0) << pid;
  }
  EXPECT_EQ(run_pwait({"2147483648"}).exit_code(), 2);
}

// Point 8: pidfiles as tools write them.
TEST(Contract, PidfilesWithCommasAndComments) {
  Target a(testing::exit_on_command, Reap::on_request), b(testing::exit_on_command, Reap::on_request);
  TempPath file("jobs");
  file.write("# written by pgrep -d,\n" + str(a.pid()) + "," + str(b.pid()) + "  # the two jobs\n");
  Command c(pwait_args({"-v", "-F", file.path()}));
  testing::wait_until_waiting(c.pid());
  a.exit(0);
  b.exit(3);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(lines(r.out), 2) << r.out;
  file.write(str(a.pid()) + "\n" + str(b.pid()) + ";\n");
  r = run_pwait({"-F", file.path()});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_EQ(r.err, "pwait: pidfile '" + file.path() + "', line 2: invalid PID '" + str(b.pid()) +
                       ";': not a decimal number (see 'pwait --help')\n");
}

// Point 9: options that would do nothing say so.
TEST(Contract, ListBackendsForTheseTargets) {
  Target t;
  pid_t gone = testing::unused_pid();
  Result r = run_pwait({"--list-backends", str(t.pid()), str(gone)});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(lines(r.out), 4) << r.out;
  EXPECT_NE(r.out.find("pidfd    usable"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "pwait: " + str(gone) + ": no such process\n");
  r = run_pwait({"--interval", "10ms", str(t.pid())});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("--backend poll"), std::string::npos) << r.err;
}

// Point 11: `sh -c 'server & exec pwait $!'`: the job becomes pwait's own
// child, which pwait reaps, with the exact status.
TEST(Contract, ReapsATargetThatIsItsOwnChild) {
  TempPath fifo("own");
  ASSERT_EQ(mkfifo(fifo.path().c_str(), 0600), 0);
  Command c({"/bin/sh", "-c",
             "{ read x < " + fifo.path() + "; exit 7; } & exec " + testing::pwait_binary() + " -r -x -v -t 5 $!"});
  Fd w(open(fifo.path().c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(w);
  testing::wait_until_waiting(c.pid());
  ASSERT_EQ(write(w.get(), "go\n", 3), 3);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 7) << r.out << r.err;
  EXPECT_NE(r.out.find(": exited with status 7\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": reaped\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("zombie"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace pwait
