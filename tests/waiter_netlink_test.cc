// What only the netlink backend has to get right, beyond the shared backend
// suite: the window between subscribing and checking, lost events (ENOBUFS),
// namespaces that refuse or ignore it, unprivileged status, and messages
// that do not come from the kernel. Each test runs the built binary and
// watches it from outside: the proc connector group itself tells the test
// the moment pwait has subscribed.

#include <gtest/gtest.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pwait/backend.h"
#include "pwait/fd.h"
#include "pwait/pidfd.h"
#include "pwait/proc_connector.h"
#include "testlib.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Reap;
using testing::Result;
using testing::Target;
using testing::TargetGroup;
using Steady = std::chrono::steady_clock;

std::string str(pid_t p) { return std::to_string(p); }

std::vector<std::string> pwait_args(std::vector<std::string> args) {
  args.insert(args.begin(), testing::pwait_binary());
  return args;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A socket in the proc connector's multicast group that never subscribes
// itself: it sees what the kernel sends to the group while pwait is
// subscribed, including the kernel's answer to pwait's subscription.
class GroupListener {
 public:
  GroupListener() {
    fd_.reset(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR));
    if (!fd_) {
      why_ = std::string("socket NETLINK_CONNECTOR: ") + strerror(errno);
      return;
    }
    int size = 8 << 20;
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    sockaddr_nl self{};
    self.nl_family = AF_NETLINK;
    self.nl_groups = CN_IDX_PROC;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
      why_ = std::string("bind CN_IDX_PROC: ") + strerror(errno);
      fd_.reset();
    }
  }
  /// Why the test cannot listen, or empty.
  const std::string& why() const { return why_; }
  int fd() const { return fd_.get(); }

  /// Waits for the kernel's answer to the subscription of process `pid`
  /// (pwait uses its PID as the ack number; the answer carries it + 1).
  void wait_subscribed(pid_t pid, std::chrono::milliseconds deadline = testing::kDeadline) {
    auto until = Steady::now() + deadline;
    for (;;) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()).count();
      if (left <= 0) throw testing::DeadlineError("pwait never subscribed to the proc connector");
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      alignas(nlmsghdr) char buf[512];
      sockaddr_nl from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) continue;  // ENOBUFS too
      auto m = decode_proc_message(buf, static_cast<std::size_t>(n), from);
      if (m && m->what == proc_event::PROC_EVENT_NONE && m->ack == static_cast<std::uint32_t>(pid) + 1) return;
    }
  }

 private:
  Fd fd_;
  std::string why_;
};

// The row of /proc/net/netlink for the NETLINK_CONNECTOR socket that
// process `pid` holds: its port id and how many messages it dropped.
struct SocketRow {
  std::uint32_t port = 0;
  unsigned long drops = 0;
};

std::optional<SocketRow> connector_socket_of(pid_t pid) {
  std::vector<std::string> inodes;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + str(pid) + "/fd", ec)) {
    std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.push_back(target.substr(8, target.size() - 9));
  }
  std::ifstream table("/proc/net/netlink");
  std::string line;
  std::getline(table, line);  // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  while (std::getline(table, line)) {
    std::istringstream f(line);
    std::string sk, inode;
    int eth;
    SocketRow row;
    std::string groups, rmem, wmem, dump, locks;
    if (!(f >> sk >> eth >> row.port >> groups >> rmem >> wmem >> dump >> locks >> row.drops >> inode)) continue;
    if (eth == NETLINK_CONNECTOR && std::find(inodes.begin(), inodes.end(), inode) != inodes.end()) return row;
  }
  return std::nullopt;
}


// Starts `n` processes that exit at once, and reaps them: `n` exit events.
// vfork: no page tables to copy, so a storm is fast even on a busy machine.
[[gnu::noinline]] pid_t spawn_exiting() {
  pid_t p = vfork();
  if (p == 0) _exit(0);
  return p;
}

void exit_storm(int n) {
  for (int i = 0; i < n; ++i) {
    pid_t p = spawn_exiting();
    if (p < 0) throw std::runtime_error("vfork failed");
    while (waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

// An unprivileged pwait that reads `pids` from stdin (-F -).
Command::Setup unprivileged_reading_pids(const std::vector<pid_t>& pids) {
  Command::Setup setup;
  setup.stdin_data.emplace();
  for (pid_t p : pids) *setup.stdin_data += str(p) + "\n";
  setup.unprivileged = true;
  return setup;
}

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto why = netlink_probe({}, {});
    release_backends(backends());
    if (why) GTEST_SKIP() << "netlink is unavailable: " << *why;
  }
};

TEST_F(NetlinkTest, LastThreadGivesTheStatusWhenTheLeaderExitedFirst) {
  // Unprivileged, and a zombie that stays: /proc masks its status from
  // pwait, so only the events can give it, and the leader's (status 0) must
  // not stand for the process's.
  Target t(testing::leader_exits_first, Reap::on_request);
  ASSERT_EQ(t.read_line(), "ready");
  Command::Setup setup;
  setup.unprivileged = testing::can_drop_privileges() && testing::unprivileged_netlink();
  Command c(pwait_args({"-b", "netlink", "-v", "-x", str(t.pid())}), setup);
  EXPECT_TRUE(c.running_after(300ms)) << "returned while a thread of the target still runs";
  t.exit(5);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 5) << r.out << r.err;
  EXPECT_EQ(r.out, str(t.pid()) + ": exited with status 5\n");
}

TEST_F(NetlinkTest, TargetExitingBetweenSubscriptionAndCheckHasExited) {
  GroupListener listener;
  if (!listener.why().empty()) GTEST_SKIP() << listener.why();
  // Many targets checked first make the window wide; the one that exits in
  // it is checked last.
  TargetGroup group(500);
  Target t;  // reaped at once: by the time pwait looks, the PID is free
  std::vector<std::string> args = {"-b", "netlink", "-v", "-x"};
  for (pid_t p : group.pids()) args.push_back(str(p));
  args.push_back(str(t.pid()));
  Command c(pwait_args(args));
  listener.wait_subscribed(c.pid());
  t.kill(SIGKILL);
  t.wait_reaped();
  testing::wait_until_waiting(c.pid());  // the others end only once pwait has looked at them
  group.finish();
  Result r = c.wait(60s);
  EXPECT_EQ(r.exit_code(), 128 + SIGKILL) << r.err;
  // (Whether the nursery had reaped it when pwait looked is a race: the line may say "zombie".)
  EXPECT_EQ(count_of(r.out, str(t.pid()) + ": killed by signal 9 (SIGKILL)"), 1u) << r.err;
  EXPECT_EQ(r.err.find("no such process"), std::string::npos) << r.err;
  EXPECT_EQ(count_of(r.out, "\n"), group.pids().size() + 1);
}

TEST_F(NetlinkTest, LostEventsAreRecoveredAfterAForkStorm) {
  Target zombie(testing::exit_on_command, Reap::on_request);
  Target reaped;  // reaped at once: its PID is free for the storm to reuse
  Target other;
  Command c(pwait_args({"-b", "netlink", "-v", "-x", str(zombie.pid()), str(reaped.pid()), str(other.pid())}));
  testing::wait_until_waiting(c.pid());
  auto before = connector_socket_of(c.pid());
  ASSERT_TRUE(before) << "pwait holds no NETLINK_CONNECTOR socket";
  // Stopped, pwait cannot read: its receive buffer overflows and the kernel
  // drops every event from then on, the targets' exits among them.
  c.kill(SIGSTOP);
  unsigned long drops = before->drops;
  for (int round = 0; round < 100 && drops == before->drops; ++round) {
    exit_storm(1000);
    drops = connector_socket_of(c.pid()).value_or(SocketRow{}).drops;
  }
  ASSERT_GT(drops, before->drops) << "the storm never overflowed pwait's receive buffer";
  zombie.exit(7);
  zombie.wait_exited();
  reaped.exit(3);
  reaped.wait_reaped();
  exit_storm(1000);
  c.kill(SIGCONT);
  EXPECT_TRUE(c.running_after(300ms)) << "returned before the third target ended";
  other.exit(0);
  Result r = c.wait();
  // The zombie's status is still in /proc. The reaped one's went with its
  // event: only the kernel's record through the pidfd pinned at start can
  // give it (PIDFD_INFO_EXIT), else it is unknown; never a status from
  // whatever process reused its PID.
  EXPECT_EQ(r.exit_code(), 7) << r.out << r.err;
  EXPECT_EQ(count_of(r.out, str(zombie.pid()) + ": exited with status 7\n"), 1u) << r.out;
  std::string how = pidfd_keeps_exit_status() ? "exited with status 3" : "exited (status unknown)";
  EXPECT_EQ(count_of(r.out, str(reaped.pid()) + ": " + how + "\n"), 1u) << r.out;
  // (Whether the nursery had reaped `other` when pwait looked is a race.)
  EXPECT_EQ(count_of(r.out, str(other.pid()) + ": exited with status 0"), 1u) << r.out;
  EXPECT_EQ(count_of(r.out, "\n"), 3u) << r.out;
}

// Runs pwait with `args` on `t`, which exits with status 9 in the middle of
// a storm of 6000 other exits.
Result exit_amid_a_storm(Target& t, std::vector<std::string> args, Command::Setup setup = {}) {
  args.push_back(str(t.pid()));
  Command c(pwait_args(args), std::move(setup));
  testing::wait_until_waiting(c.pid());
  exit_storm(3000);
  t.exit(9);
  exit_storm(3000);
  return c.wait();
}

TEST_F(NetlinkTest, ForkStormWhileWaitingReportsTheTargetOnce) {
  Target t;
  Result r = exit_amid_a_storm(t, {"-b", "netlink", "-v", "-x"});
  EXPECT_EQ(r.exit_code(), 9) << r.err;
  // Whether the nursery had reaped it by then is a race: the line may say "zombie".
  EXPECT_EQ(r.out.rfind(str(t.pid()) + ": exited with status 9", 0), 0u) << r.out;
  EXPECT_EQ(count_of(r.out, "\n"), 1u) << r.out;
}

TEST_F(NetlinkTest, ForkStormWhileWaitingUnprivilegedReportsTheTargetOnce) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  if (!testing::unprivileged_netlink()) GTEST_SKIP() << "the proc connector takes no unprivileged subscriber here (Linux 6.6)";
  // rmem_max caps an unprivileged buffer at ~256 events: on a busy machine
  // the storm may overflow it while pwait reads (LostEvents... forces that).
  // A lost event may take the status with it, so only "exactly once" is asked.
  Target t;
  Command::Setup setup;
  setup.unprivileged = true;
  Result r = exit_amid_a_storm(t, {"-b", "netlink", "-v"}, setup);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out.rfind(str(t.pid()) + ": exited", 0), 0u) << r.out;
  EXPECT_EQ(count_of(r.out, "\n"), 1u) << r.out;
  EXPECT_EQ(r.err, "");
}

// Whether this process may create namespaces (`unshare -n`).
bool can_unshare_net() {
  Result r = testing::Command({"/usr/bin/unshare", "-n", "/bin/true"}).wait();
  return r.exit_code() == 0;
}

TEST_F(NetlinkTest, RefusedInAnotherNetworkNamespaceWhereAutoStillWorks) {
  if (!can_unshare_net()) GTEST_SKIP() << "cannot create a network namespace here";
  Target t;
  std::vector<std::string> in_netns = {"/usr/bin/unshare", "-n", testing::pwait_binary()};

  auto forced = in_netns;
  forced.insert(forced.end(), {"-b", "netlink", str(t.pid())});
  Result f = Command(forced).wait();
  EXPECT_EQ(f.exit_code(), 3) << f.err;
  EXPECT_NE(f.err.find("network namespace"), std::string::npos) << f.err;
  EXPECT_EQ(count_of(f.err, "\n"), 1u) << f.err;

  auto list = in_netns;
  list.push_back("--list-backends");
  Result l = Command(list).wait();
  EXPECT_EQ(l.exit_code(), 0);
  EXPECT_NE(l.out.find("netlink  unavailable"), std::string::npos) << l.out;

  auto automatic = in_netns;
  automatic.insert(automatic.end(), {"-j", "-x", str(t.pid())});
  Command a(automatic);
  EXPECT_TRUE(a.running_after(200ms));
  t.exit(4);
  Result r = a.wait();
  EXPECT_EQ(r.exit_code(), 4) << r.err;
  EXPECT_EQ(r.out.find("\"backend\":\"netlink\""), std::string::npos) << r.out;
}

TEST_F(NetlinkTest, IgnoredInAnotherUserNamespaceWithoutHanging) {
  Result probe = Command({"/usr/bin/unshare", "-U", "/bin/true"}).wait();
  if (probe.exit_code() != 0) GTEST_SKIP() << "cannot create a user namespace here";
  Target t;
  auto started = Steady::now();
  Result f = Command({"/usr/bin/unshare", "-U", testing::pwait_binary(), "-b", "netlink", str(t.pid())}).wait();
  EXPECT_EQ(f.exit_code(), 3) << f.err;
  EXPECT_NE(f.err.find("user namespace"), std::string::npos) << f.err;
  EXPECT_LT(Steady::now() - started, 5s);
}

TEST_F(NetlinkTest, UnprivilegedGetsTheStatusOfAZombieItMayNotRead) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  if (!testing::unprivileged_netlink()) GTEST_SKIP() << "the proc connector takes no unprivileged subscriber here (Linux 6.6)";
  Target t(testing::exit_on_command, Reap::on_request);  // root's process: its /proc status is masked
  Command::Setup setup;
  setup.unprivileged = true;
  Command c(pwait_args({"-b", "netlink", "-v", "-x", str(t.pid())}), setup);
  EXPECT_TRUE(c.running_after(200ms)) << c.wait().err;
  t.exit(7);
  Result r = c.wait();  // the target is still a zombie: no reap to learn the status from
  EXPECT_EQ(r.exit_code(), 7) << r.err;
  EXPECT_EQ(r.out, str(t.pid()) + ": exited with status 7\n");
}

TEST_F(NetlinkTest, UnprivilegedUnderAFdLimitWatchesThousandsWithOneSocket) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  if (!testing::unprivileged_netlink()) GTEST_SKIP() << "the proc connector takes no unprivileged subscriber here (Linux 6.6)";
  TargetGroup group(3000);
  Command::Setup setup = unprivileged_reading_pids(group.pids());
  setup.nofile_soft = 64;
  setup.nofile_hard = 64;
  Command c(pwait_args({"-b", "netlink", "-r", "-F", "-"}), setup);
  testing::wait_until_waiting(c.pid());
  group.finish();
  Result r = c.wait(60s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(NetlinkTest, MessagesNotFromTheKernelAreDropped) {
  if (!testing::can_drop_privileges()) GTEST_SKIP() << "needs root to run pwait as an unprivileged user";
  if (!testing::unprivileged_netlink()) GTEST_SKIP() << "the proc connector takes no unprivileged subscriber here (Linux 6.6)";
  GroupListener listener;
  if (!listener.why().empty()) GTEST_SKIP() << listener.why();
  // A zombie from before pwait started whose status pwait may not read: the
  // only way it could learn one is a forged exit event.
  Target t(testing::exit_on_command, Reap::on_request);
  t.exit(0);
  t.wait_exited();
  TargetGroup group(500);  // checked first: a wide window for the forgery
  std::vector<pid_t> pids = group.pids();
  pids.push_back(t.pid());
  Command c(pwait_args({"-b", "netlink", "-v", "-x", "-F", "-"}), unprivileged_reading_pids(pids));
  listener.wait_subscribed(c.pid());
  auto sock = connector_socket_of(c.pid());
  ASSERT_TRUE(sock);

  alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_event))] = {};
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event));
  nlh->nlmsg_type = NLMSG_DONE;
  auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nlh));
  cn->id = {CN_IDX_PROC, CN_VAL_PROC};
  cn->len = sizeof(proc_event);
  proc_event ev{};
  ev.what = proc_event::PROC_EVENT_EXIT;
  ev.event_data.exit.process_pid = ev.event_data.exit.process_tgid = t.pid();
  ev.event_data.exit.exit_code = 42 << 8;
  std::memcpy(cn->data, &ev, sizeof ev);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_pid = sock->port;
  ASSERT_EQ(sendto(listener.fd(), buf, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(nlh->nlmsg_len))
      << strerror(errno);

  testing::wait_until_waiting(c.pid());
  group.finish();
  Result r = c.wait(60s);
  EXPECT_EQ(r.exit_code(), 125) << r.err;
  EXPECT_EQ(count_of(r.out, str(t.pid()) + ": exited (status unknown), zombie"), 1u) << r.out;
}

}  // namespace
}  // namespace pwait
