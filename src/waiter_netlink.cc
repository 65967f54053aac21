// The netlink backend: one NETLINK_CONNECTOR socket subscribed to the proc
// connector (CN_IDX_PROC) sees every thread's exit on the system, with its
// wait status, at exit time. One fd however many targets; the status is known
// even when the parent reaps at once or we may not read the zombie's /proc.
//
// The connector reports exits only, per thread, and loses events when the
// receive buffer overflows, so /proc stays the judge of "the whole thread
// group is gone" (each target's start time guards against PID reuse), and a
// pidfd opened on the zombie reports the reap.

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"
#include "pwait/reap_watch.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// Linux 6.6 (include/uapi/linux/cn_proc.h, struct proc_input): a subscription
// may carry an event filter; the installed 6.1 headers lack it.
struct ProcInput {
  std::uint32_t mcast_op;
  std::uint32_t event_type;
};
static_assert(sizeof(ProcInput) == 8);
// In C++ the header's enum is nested in struct proc_event.
constexpr std::uint32_t kEventNone = proc_event::PROC_EVENT_NONE;  // the answer to a subscription
constexpr std::uint32_t kEventExit = proc_event::PROC_EVENT_EXIT;

// The subscription is answered at once (synchronously, in our send); a kernel
// that ignores it (outside the initial user/PID namespace, or without
// CONFIG_PROC_EVENTS) never answers: wait this long, never longer.
constexpr milliseconds kAckTimeout(500);
// The default buffer (rmem_default, 208 KiB) holds about 256 events (each
// costs ~830 bytes of buffer): a fork storm overflows it in milliseconds.
// Asking 4 MiB (the kernel doubles it) holds about 10,000; without
// CAP_NET_ADMIN the kernel caps it at rmem_max and ENOBUFS recovery covers it.
constexpr int kRecvBuffer = 4 << 20;
// Tags in the shared epoll: the socket; a target's reap pidfd is its index.
constexpr std::uint64_t kSocketTag = std::uint64_t{1} << 62;
// Messages per recvmmsg, and batches per drain before the waiter looks at
// its targets again (a machine's exit rate must not starve them).
constexpr unsigned kBatch = 64;
constexpr int kMaxBatchesPerDrain = 64;
// fds kept free for everything but reap pidfds: stdio, epoll, timerfd,
// signalfd, the socket, /proc reads.
constexpr rlim_t kSpareFds = 64;

// How many reap pidfds fit under the soft RLIMIT_NOFILE.
std::size_t pidfd_budget() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return lim.rlim_cur > kSpareFds ? static_cast<std::size_t>(lim.rlim_cur - kSpareFds) : 0;
}

// One proc connector message, checked: from the kernel, with the connector's
// proc id and a whole proc_event.
struct ProcMessage {
  std::uint32_t what = 0;
  std::uint32_t ack = 0;  // cn_msg.ack: our subscription's ack + 1 on its answer
  proc_event event{};
};

std::optional<ProcMessage> decode(const char* buf, std::size_t len, const sockaddr_nl& from) {
  // Anyone may unicast to our port id: only the kernel (port 0) speaks for it.
  if (from.nl_family != AF_NETLINK || from.nl_pid != 0) return std::nullopt;
  if (len < NLMSG_LENGTH(sizeof(cn_msg))) return std::nullopt;
  nlmsghdr nlh;
  std::memcpy(&nlh, buf, sizeof nlh);
  if (nlh.nlmsg_len > len || nlh.nlmsg_len < NLMSG_LENGTH(sizeof(cn_msg))) return std::nullopt;
  if (nlh.nlmsg_type != NLMSG_DONE) return std::nullopt;
  cn_msg cn;
  std::memcpy(&cn, buf + NLMSG_HDRLEN, sizeof cn);
  if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) return std::nullopt;
  std::size_t have = nlh.nlmsg_len - NLMSG_LENGTH(sizeof(cn_msg));
  // Every event we read (ack, exit) ends before the union's end; newer
  // kernels may only make proc_event longer.
  constexpr std::size_t need = offsetof(proc_event, event_data) + sizeof(proc_event::event_data.exit);
  if (cn.len < need || have < need) return std::nullopt;
  ProcMessage m;
  std::memcpy(&m.event, buf + NLMSG_HDRLEN + sizeof(cn_msg), std::min<std::size_t>(have, sizeof m.event));
  m.what = m.event.what;
  m.ack = cn.ack;
  return m;
}

// Sends a proc connector control message with `payload`.
bool send_control(int fd, const void* payload, std::uint16_t size, std::uint32_t ack) {
  alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(ProcInput))] = {};
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + size);
  nlh->nlmsg_type = NLMSG_DONE;
  nlh->nlmsg_pid = 0;  // the kernel fills in our port id
  auto* cn = reinterpret_cast<cn_msg*>(NLMSG_DATA(nlh));
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->ack = ack;
  cn->len = size;
  std::memcpy(cn->data, payload, size);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  ssize_t n;
  do n = sendto(fd, buf, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(nlh->nlmsg_len);
}

bool in_initial_user_namespace() {
  std::ifstream map("/proc/self/uid_map");
  if (!map) return true;  // cannot tell: do not blame it
  long inside = -1, outside = -1, count = -1;
  if (!(map >> inside >> outside >> count)) return false;  // a namespace without a mapping
  return inside == 0 && outside == 0 && count == 4294967295L;
}

// A bound NETLINK_CONNECTOR socket in the proc group, or the reason there is none.
Fd open_connector(std::string& why) {
  Fd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR));
  if (!fd) {
    why = errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT
              ? "socket NETLINK_CONNECTOR: not supported by this kernel (needs CONFIG_CONNECTOR)"
              : fmt::format("socket NETLINK_CONNECTOR: {}", strerror(errno));
    return fd;
  }
  // Privileged callers may go past rmem_max; the others get what rmem_max allows.
  int size = kRecvBuffer;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  self.nl_groups = CN_IDX_PROC;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
    why = errno == EPERM
              ? "bind to the proc connector group: not permitted (before Linux 6.6 this needs CAP_NET_ADMIN)"
              : fmt::format("bind to the proc connector group: {}", strerror(errno));
    return Fd();
  }
  return fd;
}

// Lets the kernel stop generating events once nobody listens.
void unsubscribe(int fd) {
  std::uint32_t op = PROC_CN_MCAST_IGNORE;
  send_control(fd, &op, sizeof op, 0);
}

// The kernel's answer to a subscription carries its ack number + 1 and goes
// to every socket in the group: our PID (unique while we live; PIDs stay
// below 2^22) tells ours from other subscribers' answers, and the top bit
// tells the probe's from the watching socket's (tests wait for the latter).
enum class Purpose : std::uint32_t { watch = 0, probe = 1u << 31 };

// Subscribes `fd` to process events and waits for the kernel's answer, so a
// caller knows exits are reported from the moment this returns. The reason
// it cannot, or nullopt. Events read while waiting are dropped: whoever
// subscribes checks its targets afterwards.
std::optional<std::string> subscribe(int fd, Purpose purpose) {
  auto ack = static_cast<std::uint32_t>(getpid()) | static_cast<std::uint32_t>(purpose);
  std::uint32_t op = PROC_CN_MCAST_LISTEN;
  if (!send_control(fd, &op, sizeof op, ack)) {
    if (errno == ECONNREFUSED)
      return "the proc connector refused the subscription: it serves only the initial network "
             "namespace";
    return fmt::format("send PROC_CN_MCAST_LISTEN: {}", strerror(errno));
  }
  auto until = Clock::now() + kAckTimeout;
  for (;;) {
    auto left = std::chrono::ceil<milliseconds>(until - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return fmt::format("poll: {}", strerror(errno));
    if (r <= 0) continue;
    bool lost = false;
    for (;;) {  // everything queued: a full buffer drops the answer, and stays full until emptied
      alignas(nlmsghdr) char buf[512];
      sockaddr_nl from{};
      socklen_t fromlen = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0) {
        if (errno == EAGAIN) break;
        if (errno == ENOBUFS) lost = true;
        else if (errno != EINTR) return fmt::format("recv from the proc connector: {}", strerror(errno));
        continue;
      }
      auto m = decode(buf, static_cast<std::size_t>(n), from);
      if (!m || m->what != kEventNone || m->ack != ack + 1) continue;
      std::uint32_t err = m->event.event_data.ack.err;
      if (err == EPERM) return "subscribing to process events needs CAP_NET_ADMIN before Linux 6.6";
      if (err != 0)
        return fmt::format("the proc connector refused the subscription: {}", strerror(static_cast<int>(err)));
      if (kernel_at_least(6, 6)) {
        // Only exits from now on: a fork storm then costs half the events.
        // (The answer to this one is filtered out with the rest.)
        ProcInput filter{PROC_CN_MCAST_LISTEN, kEventExit};
        send_control(fd, &filter, sizeof filter, 0);
      }
      return std::nullopt;
    }
    // The answer may have been lost in an overflow: ask again, leaving
    // first (before Linux 6.6 each LISTEN counts one more listener, and
    // only IGNORE takes one away).
    if (lost) {
      unsubscribe(fd);
      if (!send_control(fd, &op, sizeof op, ack)) return fmt::format("send PROC_CN_MCAST_LISTEN: {}", strerror(errno));
    }
  }
  if (!in_initial_user_namespace())
    return "the kernel ignores process-event subscribers outside the initial user namespace";
  return fmt::format(
      "no answer from the proc connector within {} ms (kernel without CONFIG_PROC_EVENTS, or "
      "pwait outside the initial PID namespace)",
      kAckTimeout.count());
}

class NetlinkWaiter final : public Waiter {
 public:
  NetlinkWaiter(EventLoop& loop, const WatchSpec& spec) : loop_(loop), spec_(spec) {}
  ~NetlinkWaiter() override {
    if (subscribed_) unsubscribe(sock_.get());
  }

  void watch(std::span<const pid_t> pids, std::vector<Event>& out) override {
    std::string why;
    sock_ = open_connector(why);
    if (!sock_) throw WatchError("netlink: " + why);
    if (auto why = subscribe(sock_.get(), Purpose::watch)) throw WatchError("netlink: " + *why);
    subscribed_ = true;
    loop_.add(sock_.get(), EPOLLIN, kSocketTag);

    // Subscribed first, checked second: an exit from now on is in the socket.
    pids_ = pids;
    targets_.resize(pids.size());
    by_pid_.reserve(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) by_pid_.push_back({pids[i], static_cast<Index>(i)});
    std::sort(by_pid_.begin(), by_pid_.end());
    std::vector<Index> absent;
    for (std::size_t i = 0; i < pids.size(); ++i) {
      auto st = read_proc_stat(pids[i]);
      if (!st) {
        absent.push_back(static_cast<Index>(i));
        continue;
      }
      refuse_thread_id(pids[i]);
      targets_[i].start_time = st->start_time;
      // Already exited: settle() reports it, with the status from an event
      // that came in since the subscription, if any.
      if (st->group_exited()) mark_pending(i);
    }
    drain();
    // A target that is gone already but whose exit came in since the
    // subscription ended while we looked: it exited, it is not missing.
    for (std::size_t i : absent) {
      Target& t = targets_[i];
      t.pending = false;
      if (t.has_code) {
        exited(i, {EventKind::exited, i, t.code}, out);
      } else {
        t.done = t.exited = true;
        out.push_back({EventKind::missing, i, std::nullopt});
      }
    }
    settle(out);
  }

  void wait(std::vector<Event>& out) override {
    std::size_t before = out.size();
    while (out.size() == before && !loop_.stopped()) {
      for (const epoll_event& ev : loop_.wait(reaps_.max_wait())) {
        if (ev.data.u64 == kSocketTag) drain();
        else if (ev.events & EPOLLHUP) reaped(ev.data.u64, out);
      }
      settle(out);
      reaps_.poll(
          [&](std::size_t i) {
            const Target& t = targets_[i];
            return t.pidfd ? pidfd_alive(t.pidfd.get()) : still_there(i).has_value();
          },
          [&](std::size_t i) { reaped(i, out); });
    }
  }

 private:
  // Held for every target, so kept small (24 bytes): 20,000 targets must
  // fit in a few MiB.
  using Index = std::uint32_t;
  struct Target {
    unsigned long long start_time = 0;
    int code = 0;    // if has_code: exit_code of the latest exit event of one of its threads
    int status = 0;  // if has_status: what the exited event reported
    Fd pidfd;        // after the exit, with follow_reap: tells the reap
    bool exited : 1 = false;
    bool done : 1 = false;     // nothing more to report
    bool pending : 1 = false;  // an event came in: look at it in settle()
    bool has_code : 1 = false;
    bool code_from_leader : 1 = false;
    bool has_status : 1 = false;
  };

  void mark_pending(std::size_t i) {
    if (targets_[i].pending) return;
    targets_[i].pending = true;
    pending_.push_back(static_cast<Index>(i));
  }

  // Reads what the socket holds now (bounded). Exit events of our targets'
  // threads mark them pending; everything else is dropped. True when it
  // read the queue empty; false when it stopped at the bound or an overflow.
  bool drain() {
    std::array<std::array<char, 512>, kBatch> bufs;
    std::array<sockaddr_nl, kBatch> from;
    std::array<iovec, kBatch> iov;
    std::array<mmsghdr, kBatch> msgs;
    for (int batch = 0; batch < kMaxBatchesPerDrain; ++batch) {
      for (unsigned k = 0; k < kBatch; ++k) {
        iov[k] = {bufs[k].data(), bufs[k].size()};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_name = &from[k];
        msgs[k].msg_hdr.msg_namelen = sizeof from[k];
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(sock_.get(), msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return true;
        if (errno == ENOBUFS) {
          // The buffer overflowed and events were lost: settle() recovers.
          overflowed_ = true;
          return false;
        }
        throw_errno("recvmmsg", "proc connector");
      }
      for (int k = 0; k < n; ++k) {
        if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) continue;
        auto m = decode(bufs[k].data(), msgs[k].msg_len, from[k]);
        if (m && m->what == kEventExit) on_exit_event(m->event);
      }
      if (static_cast<unsigned>(n) < kBatch) return true;
    }
    return false;
  }

  void on_exit_event(const proc_event& ev) {
    auto tgid = static_cast<pid_t>(ev.event_data.exit.process_tgid);
    auto it = std::lower_bound(by_pid_.begin(), by_pid_.end(), std::pair<pid_t, Index>{tgid, 0});
    if (it == by_pid_.end() || it->first != tgid) return;
    Target& t = targets_[it->second];
    if (t.exited) return;
    // exit_code is the wait status (exit_signal is what the parent gets: SIGCHLD).
    t.code = static_cast<int>(ev.event_data.exit.exit_code);
    t.has_code = true;
    t.code_from_leader = ev.event_data.exit.process_pid == ev.event_data.exit.process_tgid;
    mark_pending(it->second);
  }

  // Looks at the targets that had events, and at every target after an
  // overflow: an exit event (or a lost one) is the end of the process only
  // once the whole thread group is gone.
  void settle(std::vector<Event>& out) {
    for (std::size_t k = 0;; ++k) {
      if (overflowed_) recover(out);
      if (k >= pending_.size()) break;
      std::size_t i = pending_[k];
      targets_[i].pending = false;
      look(i, out);
    }
    pending_.clear();
  }

  // The state of target `i` in /proc: its stat while the PID still names
  // it (running or zombie), nullopt once it is reaped (the PID may be reused).
  std::optional<ProcStat> still_there(std::size_t i) const {
    auto st = read_proc_stat(pids_[i]);
    if (st && st->start_time != targets_[i].start_time) st.reset();
    return st;
  }

  // Target `i` had an event: reports it exited if its whole thread group is gone.
  void look(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (t.exited || t.done) return;
    auto st = still_there(i);
    if (st && !st->group_exited()) return;  // one thread ended; the process lives on
    if (t.code_from_leader && spec_.want_details) {
      // The leader's event is the last one only if no other thread outlived
      // it; one that did has left the group already (that is what /proc
      // showed) and its event is on its way: take it too. (Not when nobody
      // looks at the status: in an exit storm that is a read per target.)
      drain();
    }
    report_exit(i, st, out);
  }

  // After an overflow. The kernel raises ENOBUFS only as the socket becomes
  // congested, and then drops events silently until its queue has been read
  // empty (netlink_overrun, netlink_rcv_wake). So the queue is emptied first,
  // and only then is every target looked at: an exit lost after that look
  // raises ENOBUFS again. The codes the backlog brings are kept only for a
  // target still there (a zombie pins its PID, so they are its own); for one
  // reaped meanwhile the PID may have named another process since, so it
  // keeps the code it had before the loss.
  void recover(std::vector<Event>& out) {
    constexpr int kNoCode = INT_MIN;  // exit codes are wait statuses, never negative
    std::vector<int> code_before_loss(targets_.size());
    for (std::size_t i = 0; i < targets_.size(); ++i)
      code_before_loss[i] = targets_[i].has_code ? targets_[i].code : kNoCode;
    do {
      overflowed_ = false;
      while (!drain() && !overflowed_ && !loop_.stopped()) {
      }
    } while (overflowed_ && !loop_.stopped());
    if (loop_.stopped()) return;  // pwait is ending: no need to look
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      Target& t = targets_[i];
      if (t.exited || t.done) continue;
      auto st = still_there(i);
      if (st && !st->group_exited()) continue;
      if (!st) {
        t.has_code = code_before_loss[i] != kNoCode;
        t.code = code_before_loss[i];
      }
      report_exit(i, st, out);
    }
  }

  // Reports target `i` exited. `st`: its stat if it is a zombie.
  void report_exit(std::size_t i, const std::optional<ProcStat>& st, std::vector<Event>& out) {
    Target& t = targets_[i];
    Event ev{EventKind::exited, i, t.has_code ? std::optional<int>(t.code) : std::nullopt};
    if (st) {
      // Where we may read it, the zombie's stat holds the group's status as
      // wait(2) will give it; the events only tell which thread ended last,
      // and two threads ending together can arrive in either order.
      if (spec_.want_details)
        if (auto status = zombie_status(pids_[i], *st)) ev.status = status;
      ev.zombie = true;
      ev.parent = st->ppid;
    }
    exited(i, ev, out);
  }

  void exited(std::size_t i, const Event& ev, std::vector<Event>& out) {
    Target& t = targets_[i];
    t.exited = true;
    t.has_status = ev.status.has_value();
    t.status = ev.status.value_or(0);
    out.push_back(ev);
    if (!spec_.follow_reap) {
      t.done = true;
      return;
    }
    if (!ev.zombie) return reaped(i, out);
    watch_reap(i, out);
  }

  // The zombie's reap: a pidfd reports it (EPOLLHUP, Linux 6.9+). The pidfd
  // is opened by number, so it counts only if /proc, read afterwards, still
  // shows the same process: a zombie holds its PID, nothing can reuse it.
  void watch_reap(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    Fd fd;
    if (pidfds_ < pidfd_budget_) {
      fd = open_pidfd(pids_[i]);
      if (!fd && errno == ESRCH) return reaped(i, out);
    }
    if (fd) {
      if (!still_there(i)) return reaped(i, out);
      if (reaps_.follow(i)) loop_.add(fd.get(), 0, i);  // EPOLLHUP needs no asking
      t.pidfd = std::move(fd);
      ++pidfds_;
      return;
    }
    // No fd to spare (thousands of zombies at once): the start time tells.
    reaps_.poll_instead(i);
  }

  void reaped(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (t.done) return;
    t.done = true;
    std::optional<int> status;
    if (t.has_status) status = t.status;
    if (t.pidfd) {
      if (!status) status = pidfd_exit_status(t.pidfd.get());
      t.pidfd.reset();  // closing drops it from the epoll
      --pidfds_;
    }
    out.push_back({EventKind::reaped, i, status});
  }

  EventLoop& loop_;
  WatchSpec spec_;
  Fd sock_;
  bool subscribed_ = false;
  std::span<const pid_t> pids_;
  std::vector<Target> targets_;
  std::vector<std::pair<pid_t, Index>> by_pid_;  // every target, sorted by PID
  std::vector<Index> pending_;
  bool overflowed_ = false;  // ENOBUFS: events were lost
  ReapWatch reaps_;
  const std::size_t pidfd_budget_ = pidfd_budget();
  std::size_t pidfds_ = 0;  // reap pidfds open
};

}  // namespace

std::optional<std::string> netlink_probe(const Needs& needs) {
  if (!read_proc_stat(getpid())) return "/proc is not mounted";
  // Its status comes from the exit event; a target that is already a zombie
  // had its event before we listened, and /proc may hide the status from us.
  if (needs.must_know_status)
    for (pid_t pid : needs.pids)
      if (auto st = read_proc_stat(pid); st && st->group_exited() && !zombie_status(pid, *st))
        return fmt::format("cannot promise every exit status: {} is already a zombie whose status is hidden", pid);
  std::string why;
  Fd fd = open_connector(why);
  if (!fd) return why;
  if (auto refused = subscribe(fd.get(), Purpose::probe)) return refused;
  unsubscribe(fd.get());
  return std::nullopt;
}

std::unique_ptr<Waiter> netlink_create(EventLoop& loop, const WatchSpec& spec) {
  return std::make_unique<NetlinkWaiter>(loop, spec);
}

}  // namespace pwait
