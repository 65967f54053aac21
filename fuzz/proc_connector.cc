// Fuzz target: decoding proc connector datagrams (truncated, wrong lengths,
// wrong ids, wrong sender). The first byte says whether the kernel sent it.

#include <sys/socket.h>

#include "fuzz.h"
#include "pwait/proc_connector.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pwait;
  if (size == 0) return 0;
  sockaddr_nl from{};
  from.nl_family = AF_NETLINK;
  from.nl_pid = data[0] & 1 ? 0 : 4242;
  auto m = decode_proc_message(reinterpret_cast<const char*>(data) + 1, size - 1, from);
  if (m) {
    fuzz::require(from.nl_pid == 0);  // only the kernel speaks
    fuzz::require(m->what == m->event.what);
    fuzz::require(size - 1 >= NLMSG_HDRLEN);
  }
  return 0;
}
