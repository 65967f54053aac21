#include "pwait/proc_connector.h"

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

}  // namespace

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
