// seccomp_errno: runs a command with chosen system calls failing with a
// chosen errno, through a seccomp filter (SECCOMP_RET_ERRNO): what a
// container's seccomp profile or an older kernel does to a program, on any
// binary, static ones too. The filter covers every call in every thread and
// survives execve; it needs no privilege (PR_SET_NO_NEW_PRIVS).
//
//   seccomp_errno RULE... -- COMMAND [ARG...]
//   RULE: SYSCALL[@N:VALUE]=ERRNO   e.g. pidfd_open=ENOSYS, madvise=EPERM,
//         socket@0:16=EAFNOSUPPORT (only when argument 0 is 16, AF_NETLINK)
//
// Used by the fault-injection tests and by the benchmark's A/B runs.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Name {
  const char* name;
  long value;
};

// The system calls and errnos the tests and the benchmark name.
constexpr Name kSyscalls[] = {
    {"pidfd_open", SYS_pidfd_open},
    {"pidfd_send_signal", SYS_pidfd_send_signal},
    {"pidfd_getfd", SYS_pidfd_getfd},
    {"clone3", SYS_clone3},
    {"ioctl", SYS_ioctl},
    {"madvise", SYS_madvise},
    {"socket", SYS_socket},
    {"ptrace", SYS_ptrace},
    {"waitid", SYS_waitid},
    {"recvmmsg", SYS_recvmmsg},
    {"recvfrom", SYS_recvfrom},
    {"epoll_create1", SYS_epoll_create1},
    {"signalfd4", SYS_signalfd4},
    {"timerfd_create", SYS_timerfd_create},
    {"open", SYS_open},
    {"openat", SYS_openat},
    {"read", SYS_read},
    {"write", SYS_write},
    {"fstatfs", SYS_fstatfs},
    {"statx", SYS_statx},
    {"acct", SYS_acct},
};

constexpr Name kErrnos[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"ESRCH", ESRCH},   {"EINTR", EINTR},     {"EIO", EIO},
    {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EINVAL", EINVAL},   {"ENFILE", ENFILE},
    {"EMFILE", EMFILE}, {"ENOTTY", ENOTTY}, {"ENOSPC", ENOSPC}, {"ENOSYS", ENOSYS},   {"ENOBUFS", ENOBUFS},
    {"EAFNOSUPPORT", EAFNOSUPPORT},         {"EPROTONOSUPPORT", EPROTONOSUPPORT},   {"ECONNREFUSED", ECONNREFUSED},
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "seccomp_errno: %s\nusage: seccomp_errno SYSCALL[@N:VALUE]=ERRNO... -- COMMAND [ARG...]\n",
               why.c_str());
  std::exit(125);
}

long lookup(const Name* table, std::size_t n, const std::string& text, const char* what) {
  for (std::size_t k = 0; k < n; ++k)
    if (text == table[k].name) return table[k].value;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 0);
  if (text.empty() || *end) usage("unknown " + std::string(what) + " '" + text + "'");
  return v;
}

struct Rule {
  long nr;
  int arg = -1;  // which argument to match, or -1
  unsigned long value = 0;
  long err;
};

Rule parse(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos) usage("a rule needs '=ERRNO': '" + text + "'");
  std::string call = text.substr(0, eq);
  Rule r{};
  r.err = lookup(kErrnos, std::size(kErrnos), text.substr(eq + 1), "errno");
  if (auto at = call.find('@'); at != std::string::npos) {
    auto colon = call.find(':', at);
    if (colon == std::string::npos) usage("'@N' needs ':VALUE': '" + text + "'");
    r.arg = std::atoi(call.substr(at + 1, colon - at - 1).c_str());
    if (r.arg < 0 || r.arg > 5) usage("argument index out of 0..5: '" + text + "'");
    r.value = std::strtoul(call.substr(colon + 1).c_str(), nullptr, 0);
    call = call.substr(0, at);
  }
  r.nr = lookup(kSyscalls, std::size(kSyscalls), call, "system call");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Rule> rules;
  int k = 1;
  for (; k < argc && std::strcmp(argv[k], "--") != 0; ++k) rules.push_back(parse(argv[k]));
  if (k + 1 >= argc) usage("no command after '--'");

  std::vector<sock_filter> prog;
  auto stmt = [&](unsigned short code, unsigned k) { prog.push_back(BPF_STMT(code, k)); };
  auto jump = [&](unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
    prog.push_back(BPF_JUMP(code, k, jt, jf));
  };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (const Rule& r : rules) {
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    if (r.arg < 0) {
      jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(r.nr), 0, 1);
    } else {
      jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(r.nr), 0, 3);
      // The low half of the 64-bit argument (x86-64 is little-endian).
      stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args) + 8 * static_cast<unsigned>(r.arg));
      jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(r.value), 0, 1);
    }
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(r.err) & SECCOMP_RET_DATA));
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) usage(std::string("PR_SET_NO_NEW_PRIVS: ") + strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
    usage(std::string("seccomp: ") + strerror(errno));
  execvp(argv[k + 1], argv + k + 1);
  std::fprintf(stderr, "seccomp_errno: %s: %s\n", argv[k + 1], strerror(errno));
  return 127;
}
