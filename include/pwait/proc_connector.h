#pragma once
// The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC):
// the socket, the subscription and the decoding of its messages. One
// subscription sees every process event on the machine.

#include <linux/cn_proc.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/fd.h"

namespace pwait {

/// One proc connector message, checked: from the kernel, with the
/// connector's proc id and a whole proc_event.
struct ProcMessage {
  std::uint32_t what = 0;  ///< proc_event::what
  std::uint32_t ack = 0;   ///< cn_msg.ack: a subscription's ack + 1 on its answer
  proc_event event{};
};

/// Decodes one datagram of `len` bytes from `from`; nullopt for anything
/// that is not a whole proc connector message from the kernel (anyone may
/// send to our port).
std::optional<ProcMessage> decode_proc_message(const char* buf, std::size_t len, const sockaddr_nl& from);

/// A classic BPF socket filter for a proc connector socket subscribed to
/// exits alone, so that the kernel drops what its owner would throw away
/// before it is queued (and before anyone wakes): the exits of processes
/// whose thread-group ID is not in `tgids`, and the other kinds of proc
/// event that kernels before 6.6 send whatever was asked. It passes every
/// exit of a thread of one of `tgids`, the connector's answers
/// (PROC_EVENT_NONE) and anything it cannot classify as a proc event. A
/// balanced tree of compares, so its cost grows with log(targets); nullopt
/// when it would be longer than BPF_MAXINSNS (about 3,300 tgids).
std::optional<std::vector<sock_filter>> exit_filter(std::span<const pid_t> tgids);

/// A bound, subscribed proc connector socket. Destroying it unsubscribes
/// (before Linux 6.6 the kernel counts listeners and only an explicit
/// unsubscription takes one away).
class ProcConnector {
 public:
  /// Subscribes to process events and waits for the kernel's answer (at
  /// most 500 ms, and never past `deadline`), so that every event from the
  /// return on is in the socket. nullptr, with the reason in `why`, when
  /// the kernel refuses or ignores it. The answer carries our PID + 1 as
  /// its ack (tests watch for it). `events` (proc_event::what bits) are the
  /// kinds wanted: the kernel drops the rest from Linux 6.6.
  static std::unique_ptr<ProcConnector> subscribe(std::string& why, std::optional<Clock::time_point> deadline,
                                                  std::uint32_t events = proc_event::PROC_EVENT_EXIT);
  ~ProcConnector();
  ProcConnector(const ProcConnector&) = delete;
  ProcConnector& operator=(const ProcConnector&) = delete;

  int fd() const { return fd_.get(); }

  /// Has the kernel drop what exit_filter(tgids) drops. Replaces the filter
  /// set before (call it again with every tgid when targets are added).
  /// False, with no filter at all, when the filter would be too long or the
  /// kernel refuses it (past net.core.optmem_max): then everything comes.
  bool keep_only_exits_of(std::span<const pid_t> tgids);

  enum class Read {
    empty,     ///< read the queue empty
    more,      ///< stopped at the bound with more queued
    overflow,  ///< the receive buffer overflowed: events were lost (ENOBUFS)
  };
  /// Messages per drain before a reader looks at its other work again (a
  /// machine's exit rate must not starve it).
  static constexpr std::size_t kMaxPerDrain = 4096;
  /// Reads what the socket holds now, at most about `max` messages, and
  /// calls `on` for each message from the kernel. After an overflow the
  /// kernel drops every event until the queue has been read empty.
  Read receive(std::size_t max, const std::function<void(const ProcMessage&)>& on);

 private:
  explicit ProcConnector(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace pwait
