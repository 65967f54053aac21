#include "pwait/proc_connector.h"

#include <arpa/inet.h>
#include <linux/connector.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/proc.h"

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

// The subscription is answered at once (synchronously, in our send); a kernel
// that ignores it (outside the initial user/PID namespace, or without
// CONFIG_PROC_EVENTS) never answers: wait this long, never longer.
constexpr milliseconds kAckTimeout(500);
// The default buffer (rmem_default, 208 KiB) holds about 256 events (each
// costs ~830 bytes of buffer): a fork storm overflows it in milliseconds.
// Asking 4 MiB (the kernel doubles it) holds about 10,000; without
// CAP_NET_ADMIN the kernel caps it at rmem_max and the waiter recovers.
constexpr int kRecvBuffer = 4 << 20;

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

void unsubscribe(int fd) {
  std::uint32_t op = PROC_CN_MCAST_IGNORE;
  send_control(fd, &op, sizeof op, 0);
}

// A bound NETLINK_CONNECTOR socket in the proc group, or the reason there is none.
Fd open_socket(std::string& why) {
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

// Waits for the kernel's answer to our subscription until `until`: nullopt
// once it accepted, the reason when it refused, "" when nothing came.
// Events read meanwhile are dropped: whoever subscribes checks its targets
// afterwards. `lost`: the answer may have been lost in an overflow.
std::optional<std::string> await_answer(int fd, std::uint32_t ack, Clock::time_point until, bool& lost) {
  for (;;) {
    auto left = std::chrono::ceil<milliseconds>(until - Clock::now()).count();
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return fmt::format("poll: {}", strerror(errno));
    if (r <= 0) continue;
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
      auto m = decode_proc_message(buf, static_cast<std::size_t>(n), from);
      if (!m || m->what != proc_event::PROC_EVENT_NONE || m->ack != ack + 1) continue;
      std::uint32_t err = m->event.event_data.ack.err;
      if (err == EPERM) return "subscribing to process events needs CAP_NET_ADMIN before Linux 6.6";
      if (err != 0)
        return fmt::format("the proc connector refused the subscription: {}", strerror(static_cast<int>(err)));
      return std::nullopt;
    }
    if (lost) return "";
  }
}

// Where exit_filter's loads read, in the datagram as the filter sees it:
// nlmsghdr, cn_msg, then struct proc_event.
constexpr std::uint32_t kCnAt = NLMSG_HDRLEN;
constexpr std::uint32_t kEventAt = kCnAt + offsetof(cn_msg, data);
constexpr std::uint32_t kIdxAt = kCnAt + offsetof(cn_msg, id) + offsetof(cb_id, idx);
constexpr std::uint32_t kValAt = kCnAt + offsetof(cn_msg, id) + offsetof(cb_id, val);
constexpr std::uint32_t kWhatAt = kEventAt + offsetof(proc_event, what);
constexpr std::uint32_t kTgidAt = kEventAt + offsetof(proc_event, event_data.exit.process_tgid);
static_assert(kIdxAt == 16 && kWhatAt == 36 && kTgidAt == 56, "nlmsghdr 16, cn_msg 20, proc_event's header 16");
constexpr std::uint32_t kPass = UINT32_MAX;  // a socket filter returns how many bytes to keep
constexpr std::uint32_t kDrop = 0;
// Keys a leaf of the tree compares one by one: a tree node costs its jgt
// and each leaf two returns, so bigger leaves fit more tgids in
// BPF_MAXINSNS, at a few more compares per message.
constexpr std::size_t kLeafKeys = 16;
// cBPF's conditional jumps reach at most this far (jt and jf are bytes).
constexpr std::size_t kMaxCondJump = 255;

// What a BPF_W|BPF_ABS load yields for the host-endian u32 `v`: socket
// filters load words big-endian (the kernel's load_word: get_unaligned_be32).
std::uint32_t as_loaded(std::uint32_t v) { return htonl(v); }

sock_filter stmt(std::uint16_t code, std::uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::size_t jt, std::size_t jf) {
  return BPF_JUMP(code, k, static_cast<std::uint8_t>(jt), static_cast<std::uint8_t>(jf));
}

// Instructions tree() emits for `n` keys.
std::size_t tree_size(std::size_t n) {
  if (n <= kLeafKeys) return n == 0 ? 1 : n + 2;
  std::size_t left = tree_size(n / 2);
  return 1 + (left > kMaxCondJump ? 1 : 0) + left + tree_size(n - n / 2);
}

// A search tree over `keys` (sorted, distinct, as loaded) for the value in
// A: returns kPass for one of them, kDrop for anything else. A node sends
// A > (the left half's greatest) right, the rest left; a leaf compares in turn.
void tree(std::span<const std::uint32_t> keys, std::vector<sock_filter>& out) {
  std::size_t n = keys.size();
  if (n <= kLeafKeys) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, keys[i], n - i, 0));
    out.push_back(stmt(BPF_RET | BPF_K, kDrop));
    if (n > 0) out.push_back(stmt(BPF_RET | BPF_K, kPass));
    return;
  }
  auto left = keys.first(n / 2);
  std::size_t left_size = tree_size(left.size());
  if (left_size <= kMaxCondJump) {
    out.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, left.back(), left_size, 0));
  } else {  // too far for jt: through an unconditional jump (32-bit offset)
    out.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, left.back(), 0, 1));
    out.push_back(stmt(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(left_size)));
  }
  tree(left, out);
  tree(keys.subspan(n / 2), out);
}

}  // namespace

std::optional<std::vector<sock_filter>> exit_filter(std::span<const pid_t> tgids) {
  std::vector<std::uint32_t> keys;
  keys.reserve(tgids.size());
  for (pid_t t : tgids) keys.push_back(as_loaded(static_cast<std::uint32_t>(t)));
  // Ordered as the filter sees them (byte-swapped on little-endian hosts).
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  // The checks before the tree, each leading to one of these two returns.
  enum : std::size_t {
    kLen, kHasTgid, kIdx, kIsProc, kVal, kIsProc2, kWhat, kIsExit, kIsAnswer, kRetDrop, kRetPass, kTgid, kTree
  };
  if (kTree + tree_size(keys.size()) > BPF_MAXINSNS) return std::nullopt;
  auto to = [](std::size_t from, std::size_t target) { return target - from - 1; };
  std::vector<sock_filter> prog = {
      // A message too short to hold an exit's tgid is no proc event we know:
      // pass it (a load past the end would end the filter with a drop).
      stmt(BPF_LD | BPF_W | BPF_LEN, 0),
      jump(BPF_JMP | BPF_JGE | BPF_K, kTgidAt + sizeof(std::uint32_t), 0, to(kHasTgid, kRetPass)),
      // Not from the proc connector (anyone may send to our port): pass.
      stmt(BPF_LD | BPF_W | BPF_ABS, kIdxAt),
      jump(BPF_JMP | BPF_JEQ | BPF_K, as_loaded(CN_IDX_PROC), 0, to(kIsProc, kRetPass)),
      stmt(BPF_LD | BPF_W | BPF_ABS, kValAt),
      jump(BPF_JMP | BPF_JEQ | BPF_K, as_loaded(CN_VAL_PROC), 0, to(kIsProc2, kRetPass)),
      // An exit goes to the tree; an answer passes; other events (fork,
      // exec... before Linux 6.6) are dropped.
      stmt(BPF_LD | BPF_W | BPF_ABS, kWhatAt),
      jump(BPF_JMP | BPF_JEQ | BPF_K, as_loaded(proc_event::PROC_EVENT_EXIT), to(kIsExit, kTgid), 0),
      jump(BPF_JMP | BPF_JEQ | BPF_K, as_loaded(proc_event::PROC_EVENT_NONE), to(kIsAnswer, kRetPass),
           to(kIsAnswer, kRetDrop)),
      stmt(BPF_RET | BPF_K, kDrop),
      stmt(BPF_RET | BPF_K, kPass),
      stmt(BPF_LD | BPF_W | BPF_ABS, kTgidAt),
  };
  tree(keys, prog);
  return prog;
}

std::optional<ProcMessage> decode_proc_message(const char* buf, std::size_t len, const sockaddr_nl& from) {
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
  // Every event we read (ack, exit, fork) ends before the union's end; newer
  // kernels may only make proc_event longer.
  constexpr std::size_t need = offsetof(proc_event, event_data) + sizeof(proc_event::event_data.exit);
  if (cn.len < need || have < need) return std::nullopt;
  ProcMessage m;
  std::memcpy(&m.event, buf + NLMSG_HDRLEN + sizeof(cn_msg), std::min<std::size_t>(have, sizeof m.event));
  m.what = m.event.what;
  m.ack = cn.ack;
  return m;
}

std::unique_ptr<ProcConnector> ProcConnector::subscribe(std::string& why, std::optional<Clock::time_point> deadline,
                                                        std::uint32_t events) {
  Fd fd = open_socket(why);
  if (!fd) return nullptr;
  std::unique_ptr<ProcConnector> connector(new ProcConnector(std::move(fd)));
  int sock = connector->fd();
  auto ack = static_cast<std::uint32_t>(getpid());
  std::uint32_t op = PROC_CN_MCAST_LISTEN;
  if (!send_control(sock, &op, sizeof op, ack)) {
    why = errno == ECONNREFUSED
              ? "the proc connector refused the subscription: it serves only the initial network namespace"
              : fmt::format("send PROC_CN_MCAST_LISTEN: {}", strerror(errno));
    connector->fd_.reset();  // never subscribed: nothing to undo
    return nullptr;
  }
  auto until = Clock::now() + kAckTimeout;
  if (deadline && *deadline < until) until = *deadline;
  for (;;) {
    bool lost = false;
    auto refused = await_answer(sock, ack, until, lost);
    if (!refused) break;
    if (!refused->empty()) {
      why = *refused;
      return nullptr;
    }
    if (!lost || Clock::now() >= until) {
      why = !in_initial_user_namespace()
                ? "the kernel ignores process-event subscribers outside the initial user namespace"
            : deadline && *deadline <= until
                ? "no answer from the proc connector before the timeout"
                : fmt::format("no answer from the proc connector within {} ms (kernel without "
                              "CONFIG_PROC_EVENTS, or pwait outside the initial PID namespace)",
                              kAckTimeout.count());
      return nullptr;
    }
    // The answer was lost in an overflow: ask again, leaving first (before
    // Linux 6.6 each LISTEN counts one more listener, and only IGNORE takes
    // one away).
    unsubscribe(sock);
    if (!send_control(sock, &op, sizeof op, ack)) {
      why = fmt::format("send PROC_CN_MCAST_LISTEN: {}", strerror(errno));
      return nullptr;
    }
  }
  // Only the kinds asked for from now on (Linux 6.6; older kernels ignore
  // the filter): for exits alone a fork storm costs half the events. Its
  // answer is dropped with the rest.
  ProcInput filter{PROC_CN_MCAST_LISTEN, events};
  send_control(sock, &filter, sizeof filter, 0);
  return connector;
}

bool ProcConnector::keep_only_exits_of(std::span<const pid_t> tgids) {
  if (auto prog = exit_filter(tgids)) {
    sock_fprog fprog{static_cast<unsigned short>(prog->size()), prog->data()};
    // Replaces any filter before it. Fails with ENOMEM when the program, as
    // the kernel converts it, passes net.core.optmem_max: 128 KiB holds
    // every filter exit_filter makes, the 20 KiB older kernels default to
    // about 1,180 tgids.
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) == 0) return true;
  }
  // No filter rather than an old one that drops the new targets' exits.
  int unused = 0;
  setsockopt(fd_.get(), SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused);
  return false;
}

ProcConnector::Read ProcConnector::receive(std::size_t max, const std::function<void(const ProcMessage&)>& on) {
  constexpr unsigned kBatch = 64;  // messages per recvmmsg
  std::array<std::array<char, 512>, kBatch> bufs;
  std::array<sockaddr_nl, kBatch> from;
  std::array<iovec, kBatch> iov;
  std::array<mmsghdr, kBatch> msgs;
  for (std::size_t read = 0; read < max;) {
    for (unsigned k = 0; k < kBatch; ++k) {
      iov[k] = {bufs[k].data(), bufs[k].size()};
      msgs[k] = {};
      msgs[k].msg_hdr.msg_name = &from[k];
      msgs[k].msg_hdr.msg_namelen = sizeof from[k];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd_.get(), msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Read::empty;
      if (errno == ENOBUFS) return Read::overflow;
      throw_errno("recvmmsg", "proc connector");
    }
    for (int k = 0; k < n; ++k) {
      if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) continue;
      if (auto m = decode_proc_message(bufs[k].data(), msgs[k].msg_len, from[k])) on(*m);
    }
    if (static_cast<unsigned>(n) < kBatch) return Read::empty;
    read += static_cast<std::size_t>(n);
  }
  return Read::more;
}

ProcConnector::~ProcConnector() {
  if (fd_) unsubscribe(fd_.get());
}

}  // namespace pwait
