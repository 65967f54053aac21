#pragma once
// The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC):
// the socket, the subscription and the decoding of its messages. One
// subscription sees every process event on the machine.

#include <linux/cn_proc.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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

  enum class Read {
    empty,     ///< read the queue empty
    more,      ///< stopped at the bound with more queued
    overflow,  ///< the receive buffer overflowed: events were lost (ENOBUFS)
  };
  /// Reads what the socket holds now, at most about `max` messages, and
  /// calls `on` for each message from the kernel. After an overflow the
  /// kernel drops every event until the queue has been read empty.
  Read receive(std::size_t max, const std::function<void(const ProcMessage&)>& on);

 private:
  explicit ProcConnector(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace pwait
