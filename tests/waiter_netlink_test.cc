// What only the netlink backend has to get right, beyond the shared backend
// suite: the window between subscribing and checking, lost events (ENOBUFS),
// namespaces that refuse or ignore it, unprivileged status, messages that
// do not come from the kernel, and the socket filter that keeps other
// processes' exits out. The backend's tests run the built binary and watch
// it from outside: the proc connector group itself tells the test the moment
// pwait has subscribed. The filter's run in the kernel on a socket of the
// test's own, and in a model of cBPF for every size.

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
#include <functional>
#include <set>
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

using testing::pwait_args;
using testing::str;

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
// process `pid` holds: its port id, what is queued and how many messages
// the kernel dropped for it.
struct SocketRow {
  std::uint32_t port = 0;
  unsigned long rmem = 0;  // bytes queued
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
    std::string groups, wmem, dump, locks;
    if (!(f >> sk >> eth >> row.port >> groups >> row.rmem >> wmem >> dump >> locks >> row.drops >> inode)) continue;
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

// Fills the receive buffer of the netlink socket at `port` to the brim
// with datagrams that are no proc connector message: its filter lets them
// through (it cannot tell what they are), the owner drops them (they do not
// come from the kernel). From then on the kernel loses every event for that
// socket (ENOBUFS) until the owner has read the queue empty.
void fill_receive_buffer(std::uint32_t port) {
  Fd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR));
  if (!fd) throw std::runtime_error(std::string("socket NETLINK_CONNECTOR: ") + strerror(errno));
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_pid = port;
  // A user's datagram to a full socket fails (without counting a drop).
  // Newer kernels refuse one that would pass the limit: smaller ones fill
  // what bigger ones left, down to less than an event needs.
  for (std::size_t size : {std::size_t{32} << 10, std::size_t{1} << 10, std::size_t{NLMSG_HDRLEN}}) {
    std::vector<char> junk(size);
    nlmsghdr nlh{};
    nlh.nlmsg_len = static_cast<std::uint32_t>(size);
    nlh.nlmsg_type = NLMSG_NOOP;
    std::memcpy(junk.data(), &nlh, sizeof nlh);
    for (int i = 0;; ++i) {
      if (i == 1000000) throw std::runtime_error("the receive buffer never filled");
      if (sendto(fd.get(), junk.data(), size, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) continue;
      if (errno == EAGAIN) break;
      throw std::runtime_error(std::string("send to pwait's socket: ") + strerror(errno));
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

TEST_F(NetlinkTest, LostEventsAreRecoveredAfterAnOverflow) {
  Target zombie(testing::exit_on_command, Reap::on_request);
  Target reaped;  // reaped at once: its PID is free for the storm to reuse
  Target other;
  Command c(pwait_args({"-b", "netlink", "-v", "-x", str(zombie.pid()), str(reaped.pid()), str(other.pid())}));
  testing::wait_until_waiting(c.pid());
  auto before = connector_socket_of(c.pid());
  ASSERT_TRUE(before) << "pwait holds no NETLINK_CONNECTOR socket";
  // Stopped, pwait cannot read: once its receive buffer is full the kernel
  // drops every event, the targets' exits among them. (Other processes'
  // exits would not fill it: its socket filter drops them.)
  c.kill(SIGSTOP);
  fill_receive_buffer(before->port);
  zombie.exit(7);
  zombie.wait_exited();
  reaped.exit(3);
  reaped.wait_reaped();
  ASSERT_GT(connector_socket_of(c.pid()).value_or(SocketRow{}).drops, before->drops)
      << "the targets' exits were not lost";
  exit_storm(1000);  // may reuse the reaped target's PID
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

// ---------------------------------------------------------------- the socket filter

// A datagram as the proc connector sends it: nlmsghdr, cn_msg, proc_event.
std::vector<unsigned char> proc_message(std::uint32_t what, pid_t tgid, std::uint32_t idx = CN_IDX_PROC) {
  std::vector<unsigned char> buf(NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_event)));
  nlmsghdr nlh{};
  nlh.nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event));
  nlh.nlmsg_type = NLMSG_DONE;
  cn_msg cn{};
  cn.id = {idx, CN_VAL_PROC};
  cn.len = sizeof(proc_event);
  proc_event ev{};
  ev.what = static_cast<decltype(ev.what)>(what);
  ev.event_data.exit.process_pid = ev.event_data.exit.process_tgid = tgid;
  std::memcpy(buf.data(), &nlh, sizeof nlh);
  std::memcpy(buf.data() + NLMSG_HDRLEN, &cn, sizeof cn);
  std::memcpy(buf.data() + NLMSG_HDRLEN + sizeof cn, &ev, sizeof ev);
  return buf;
}

// Runs `prog` on `msg` as the kernel runs a socket filter (a word load is
// big-endian; one past the end ends the program with 0), for the
// instructions exit_filter uses.
std::uint32_t run_filter(const std::vector<sock_filter>& prog, const std::vector<unsigned char>& msg) {
  std::uint32_t a = 0;
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& f = prog[pc];
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_LEN: a = static_cast<std::uint32_t>(msg.size()); break;
      case BPF_LD | BPF_W | BPF_ABS:
        if (f.k + 4 > msg.size()) return 0;
        a = std::uint32_t{msg[f.k]} << 24 | std::uint32_t{msg[f.k + 1]} << 16 | std::uint32_t{msg[f.k + 2]} << 8 |
            msg[f.k + 3];
        break;
      case BPF_JMP | BPF_JA: pc += f.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == f.k ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > f.k ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= f.k ? f.jt : f.jf; break;
      case BPF_RET | BPF_K: return f.k;
      default: ADD_FAILURE() << "instruction " << f.code << " at " << pc; return 0;
    }
  }
  ADD_FAILURE() << "the program runs past its end";
  return 0;
}

// Whether the kernel's checker takes `prog` (on a socket of any kind).
// ENOMEM only says it is bigger than optmem_max allows.
void expect_kernel_takes(const std::vector<sock_filter>& prog) {
  Fd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
  int r = setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog);
  EXPECT_TRUE(r == 0 || errno == ENOMEM) << prog.size() << " instructions: " << strerror(errno);
}

// PIDs as machines hand them out, spread over several bytes (so that their
// order differs from the order of the byte-swapped words the filter loads).
std::vector<pid_t> spread_pids(std::size_t n) {
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < n; ++i) pids.push_back(static_cast<pid_t>(300 + i * 251 % 4000000));
  return pids;
}

TEST(NetlinkFilter, PassesExactlyTheTargetsExitsAtEverySize) {
  for (std::size_t n : {1u, 2u, 17u, 1000u, 3000u, 10000u}) {
    SCOPED_TRACE(n);
    std::vector<pid_t> pids = spread_pids(n);
    std::set<pid_t> watched(pids.begin(), pids.end());
    auto prog = exit_filter(pids);
    if (n > 3300) {  // a tree of that many no longer fits BPF_MAXINSNS: no filter
      EXPECT_FALSE(prog);
      continue;
    }
    ASSERT_TRUE(prog) << "the documented capacity holds " << n;
    EXPECT_LE(prog->size(), std::size_t{BPF_MAXINSNS});
    expect_kernel_takes(*prog);
    for (pid_t p : pids) {
      ASSERT_NE(run_filter(*prog, proc_message(proc_event::PROC_EVENT_EXIT, p)), 0u) << p;
      for (pid_t q : {p - 1, p + 1, p + 256, p ^ 0x10000}) {
        if (watched.count(q)) continue;
        ASSERT_EQ(run_filter(*prog, proc_message(proc_event::PROC_EVENT_EXIT, q)), 0u) << q;
      }
    }
    // The connector's answers pass; other kinds of event (older kernels send
    // them all) do not.
    EXPECT_NE(run_filter(*prog, proc_message(proc_event::PROC_EVENT_NONE, 0)), 0u);
    EXPECT_EQ(run_filter(*prog, proc_message(proc_event::PROC_EVENT_FORK, pids[0])), 0u);
    EXPECT_EQ(run_filter(*prog, proc_message(proc_event::PROC_EVENT_EXEC, pids[0])), 0u);
    // What it cannot classify passes: short, or from another connector.
    auto unknown = proc_message(proc_event::PROC_EVENT_EXIT, 1, CN_IDX_PROC + 1);
    EXPECT_NE(run_filter(*prog, unknown), 0u);
    auto short_one = proc_message(proc_event::PROC_EVENT_EXIT, 1);
    short_one.resize(NLMSG_HDRLEN + sizeof(cn_msg) + 8);
    EXPECT_NE(run_filter(*prog, short_one), 0u);
  }
}

TEST(NetlinkFilter, CapacityIsAboutThreeThousandThreeHundredTargets) {
  std::size_t lo = 1, hi = 10000;  // fits, does not
  while (hi - lo > 1) {
    std::size_t mid = (lo + hi) / 2;
    (exit_filter(spread_pids(mid)) ? lo : hi) = mid;
  }
  RecordProperty("capacity", static_cast<int>(lo));
  EXPECT_GE(lo, 3300u);
  EXPECT_LT(lo, 4096u);
  auto prog = exit_filter(spread_pids(lo));
  ASSERT_TRUE(prog);
  expect_kernel_takes(*prog);
  // Repeated PIDs count once.
  std::vector<pid_t> twice = spread_pids(lo);
  twice.insert(twice.end(), twice.begin(), twice.end());
  EXPECT_TRUE(exit_filter(twice));
}

// Reads `connector` until `done` holds for the exits seen so far (their
// tgids), with a deadline. Fails on an overflow: nothing may be lost.
std::multiset<pid_t> exits_until(ProcConnector& connector, const std::function<bool(const std::multiset<pid_t>&)>& done,
                                 std::chrono::milliseconds deadline = testing::kDeadline) {
  std::multiset<pid_t> seen;
  auto until = Steady::now() + deadline;
  for (;;) {
    auto read = connector.receive(SIZE_MAX, [&](const ProcMessage& m) {
      if (m.what == proc_event::PROC_EVENT_EXIT) seen.insert(static_cast<pid_t>(m.event.event_data.exit.process_tgid));
    });
    if (read == ProcConnector::Read::overflow) throw std::runtime_error("the receive buffer overflowed");
    if (done(seen)) return seen;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now()).count();
    if (left <= 0) throw testing::DeadlineError("the exits never came");
    pollfd p{connector.fd(), POLLIN, 0};
    poll(&p, 1, static_cast<int>(left));
  }
}

TEST_F(NetlinkTest, KernelRunsTheFilterAndDropsOnlyOtherProcessesExits) {
  std::string why;
  auto connector = ProcConnector::subscribe(why, std::nullopt);
  if (!connector) GTEST_SKIP() << "netlink is unavailable: " << why;
  Target unrelated, added;  // (first: the group's targets hold none of their pipes)
  TargetGroup group(200);
  // Past the targets, PIDs no process can have (above PID_MAX_LIMIT): a
  // tree of 2,200 keys, whose nodes need the long jumps.
  std::vector<pid_t> tgids = group.pids();
  for (pid_t i = 0; i < 2000; ++i) tgids.push_back((4 << 20) + i * 257);
  auto prog = exit_filter(tgids);
  ASSERT_TRUE(prog);
  sock_fprog fprog{static_cast<unsigned short>(prog->size()), prog->data()};
  ASSERT_EQ(setsockopt(connector->fd(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog), 0) << strerror(errno);
  exits_until(*connector, [](auto&) { return true; });  // what came before the filter

  // The unrelated exits happen first: once the targets' have come, theirs
  // would have too.
  unrelated.exit(3);
  unrelated.wait_reaped();
  exit_storm(2000);
  group.finish();
  group.wait_reaped();
  std::set<pid_t> targets(group.pids().begin(), group.pids().end());
  auto seen = exits_until(*connector, [&](const std::multiset<pid_t>& s) {
    return std::all_of(targets.begin(), targets.end(), [&](pid_t p) { return s.count(p) > 0; });
  });
  for (pid_t p : seen) EXPECT_TRUE(targets.count(p)) << "the exit of " << p << " (not a target) came through";
  EXPECT_EQ(seen.count(unrelated.pid()), 0u);

  // More targets: a new filter replaces the old. Too many: none at all.
  std::vector<pid_t> more = tgids;
  more.push_back(added.pid());
  ASSERT_TRUE(connector->keep_only_exits_of(more));
  added.exit(0);
  added.wait_reaped();
  exits_until(*connector, [&](const std::multiset<pid_t>& s) { return s.count(added.pid()) > 0; });
  for (pid_t i = 0; i < 10000; ++i) more.push_back((4 << 20) + i * 263 + 1);
  EXPECT_FALSE(connector->keep_only_exits_of(more));
  pid_t other = spawn_exiting();
  ASSERT_GT(other, 0);
  while (waitpid(other, nullptr, 0) < 0 && errno == EINTR) {
  }
  exits_until(*connector, [&](const std::multiset<pid_t>& s) { return s.count(other) > 0; });
}

// Past what one socket filter holds, every exit on the machine reaches pwait:
// -v says so, and says nothing of the kind when the filter is on.
TEST_F(NetlinkTest, VerboseSaysWhenNoFilterHoldsTheTargets) {
  TargetGroup few(2), many(3400);
  for (const TargetGroup* g : {&few, &many}) {
    std::string list;
    for (pid_t p : g->pids()) list += str(p) + "\n";
    Command::Setup setup;
    setup.stdin_data = list;
    Result r = Command(pwait_args({"-b", "netlink", "-v", "-t", "300ms", "-F", "-"}), setup).wait();
    EXPECT_EQ(r.exit_code(), 124) << r.err.substr(0, 300);
    std::string note = "pwait: note: netlink: no socket filter for " + str(g->pids().size()) + " targets (";
    if (g == &many) EXPECT_NE(r.err.find(note), std::string::npos) << r.err.substr(0, 300);
    else EXPECT_EQ(r.err.find("no socket filter"), std::string::npos) << r.err.substr(0, 300);
  }
}

TEST_F(NetlinkTest, OtherProcessesExitsNeverReachPwait) {
  Target t;
  Command c(pwait_args({"-b", "netlink", "-x", str(t.pid())}));
  testing::wait_until_waiting(c.pid());
  // Stopped, pwait reads nothing: whatever the kernel lets through for it
  // stays queued.
  c.kill(SIGSTOP);
  auto before = connector_socket_of(c.pid());
  ASSERT_TRUE(before) << "pwait holds no NETLINK_CONNECTOR socket";
  exit_storm(3000);
  auto after = connector_socket_of(c.pid());
  ASSERT_TRUE(after);
  // Unfiltered, 3,000 exits queue about 2.5 MB. What may still come: the
  // answers to other processes' subscriptions (before Linux 6.6 every
  // listener gets them), from a test running beside this one.
  EXPECT_LT(after->rmem, 64u * 1024) << "queued for pwait, from " << before->rmem;
  EXPECT_EQ(after->drops, before->drops);
  c.kill(SIGCONT);
  t.exit(6);
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 6) << r.err;
}

}  // namespace
}  // namespace pwait
