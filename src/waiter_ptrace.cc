// The ptrace backend: PTRACE_SEIZE on each target's leader thread with
// PTRACE_O_TRACEEXIT, served by a tracer thread of its own (see Tracer). The
// tracee's stops arrive as SIGCHLD, read through a signalfd; each is drained
// with waitpid(tid, __WALL) for the traced leaders only (pwait's caller may
// have children of its own).
//
// Only the leader is traced. Signals that land in other threads never stop
// anything, so they cannot be lost; group-stops still complete, because the
// kernel counts the traced leader's trap like any thread's stop; and the
// tracer's wait reports a leader's exit only once the whole thread group is
// gone. Tracing every thread would add a stop for every thread-directed
// signal and a race with every clone, and buy nothing the leader does not
// give. A leader that leaves alone (pthread_exit) is let go at its exit stop:
// a traced zombie cannot be detached, and would keep its parent from ever
// seeing the process end should pwait stop first. Its pidfd then says when
// the group is gone, as for a target found in that state.
//
// The status is the one PTRACE_GETEVENTMSG gives at the exit stop, checked
// by our wait on the leader, which the kernel answers with what the real
// parent will get (they differ only if the group's last thread was not the
// leader). A SIGKILL skips the exit stop; the wait still has the status. A
// traced non-child's zombie is seen by its tracer only: our wait hands it to
// its real parent, and a pidfd opened before the seize tells zombie from
// reaped from then on, as in the pidfd backend.
//
// Every stop is resumed at once: a signal-delivery stop with the same signal,
// a group-stop with PTRACE_LISTEN (so SIGCONT and the real parent's
// WUNTRACED/WCONTINUED work as without a tracer; /proc shows 't', not 'T',
// meanwhile). Destroying the Waiter interrupts and detaches every target
// still traced, handing a pending signal back.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "pwait/backend.h"
#include "pwait/error.h"
#include "pwait/pidfd.h"
#include "pwait/proc.h"
#include "pwait/reap_watch.h"

namespace pwait {
namespace {

using std::chrono::milliseconds;

// How long the destructor waits for interrupted targets to stop so it can
// detach them. One that does not stop in time (uninterruptible sleep) is
// detached by the kernel when pwait exits.
constexpr Duration kDetachGrace = milliseconds(2000);
// How long it waits for the rest of a group whose leader is past its exit stop.
constexpr Duration kExitingGrace = milliseconds(100);
constexpr int kCapSysPtrace = 19;

// The text of /proc/PID/status; nullopt when the process is gone.
std::optional<std::string> read_status(pid_t pid) {
  std::string path = fmt::format("/proc/{}/status", pid);
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text(8192, '\0');
  std::size_t len = 0;
  for (;;) {
    ssize_t n = read(fd.get(), text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;  // ESRCH: reaped between open and read
    if (n == 0 || (len += static_cast<std::size_t>(n)) == text.size()) break;
  }
  text.resize(len);
  return text;
}

// The value of "Key:" in /proc/PID/status text, trimmed; empty if absent.
std::string_view status_field(std::string_view text, std::string_view key) {
  std::size_t at = text.rfind(key, 0) == 0 ? 0 : text.find(fmt::format("\n{}", key));
  if (at == std::string_view::npos) return {};
  text.remove_prefix(at + (at == 0 ? 0 : 1) + key.size());
  text.remove_prefix(std::min(text.find_first_not_of(" \t"), text.size()));
  return text.substr(0, text.find('\n'));
}

// The first `n` whitespace-separated numbers of a status field (Uid:, Gid:).
std::vector<long> numbers(std::string_view field, std::size_t n) {
  std::vector<long> out;
  while (out.size() < n && !field.empty()) {
    field.remove_prefix(std::min(field.find_first_not_of(" \t"), field.size()));
    long v = 0;
    auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (ec != std::errc()) break;
    out.push_back(v);
    field.remove_prefix(static_cast<std::size_t>(p - field.data()));
  }
  return out;
}

bool have_cap_sys_ptrace() {
  auto text = read_status(getpid());
  if (!text) return false;
  std::string_view eff = status_field(*text, "CapEff:");
  unsigned long long caps = 0;
  std::from_chars(eff.data(), eff.data() + eff.size(), caps, 16);
  return caps & (1ull << kCapSysPtrace);
}

// Why Yama forbids tracing non-descendants, or nullopt.
std::optional<std::string> yama_forbids(bool cap) {
  Fd fd(open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;  // no Yama
  char c = '0';
  if (read(fd.get(), &c, 1) != 1) return std::nullopt;
  if (c == '3') return "Yama forbids every ptrace attach (kernel.yama.ptrace_scope = 3)";
  if (c == '2' && !cap) return "Yama allows ptrace attach only with CAP_SYS_PTRACE (kernel.yama.ptrace_scope = 2)";
  if (c == '1' && !cap)
    return "Yama allows tracing only descendants, and targets are not pwait's children "
           "(kernel.yama.ptrace_scope = 1)";
  return std::nullopt;
}

// Why `pid` cannot be seized, as far as /proc tells; nullopt when it can be
// tried (or is gone). The kernel has the last word: EPERM from the seize.
std::optional<std::string> untraceable(pid_t pid, bool cap) {
  auto text = read_status(pid);
  if (!text) return std::nullopt;
  pid_t tracer = 0;
  std::string_view field = status_field(*text, "TracerPid:");
  std::from_chars(field.data(), field.data() + field.size(), tracer);
  if (tracer != 0) {
    // TracerPid names the tracing thread; say which process it belongs to.
    auto about = read_status(tracer);
    std::string name = about ? std::string(status_field(*about, "Name:")) : "?";
    std::string process = about ? std::string(status_field(*about, "Tgid:")) : std::to_string(tracer);
    return fmt::format("{}: already traced by process {} ({}); only one tracer at a time", pid,
                       process, name);
  }
  if (cap) return std::nullopt;
  // The kernel's check: our real uid and gid match the target's real, effective and saved ones.
  auto uids = numbers(status_field(*text, "Uid:"), 3);
  auto gids = numbers(status_field(*text, "Gid:"), 3);
  bool same = uids.size() == 3 && gids.size() == 3;
  for (long u : uids) same = same && u == static_cast<long>(getuid());
  for (long g : gids) same = same && g == static_cast<long>(getgid());
  if (!same) return fmt::format("{}: belongs to another user; tracing it needs CAP_SYS_PTRACE", pid);
  return std::nullopt;
}

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

// The whole thread group behind `pidfd` has exited (zombie or reaped).
bool group_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void* as_data(long v) { return reinterpret_cast<void*>(v); }

// Blocks SIGCHLD in the calling thread (the tracer thread, created later,
// inherits the mask) so that it waits in the tracer's signalfd, and makes
// sure it is not ignored: for an ignored SIGCHLD the kernel sends none for
// ptrace stops. Restores both when destroyed.
class ChildSignal {
 public:
  ChildSignal() {
    if (sigaction(SIGCHLD, nullptr, &old_action_) != 0) throw_errno("sigaction", "SIGCHLD");
    // SA_NOCLDSTOP would hide the stops as well. A handler may stay: blocked,
    // the signal goes to our signalfd instead.
    changed_ = old_action_.sa_handler == SIG_IGN || (old_action_.sa_flags & SA_NOCLDSTOP);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    if (changed_ && sigaction(SIGCHLD, &dfl, nullptr) != 0) throw_errno("sigaction", "SIGCHLD");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
  }
  ~ChildSignal() {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    if (changed_) sigaction(SIGCHLD, &old_action_, nullptr);
  }
  ChildSignal(const ChildSignal&) = delete;
  ChildSignal& operator=(const ChildSignal&) = delete;

 private:
  struct sigaction old_action_ {};
  bool changed_ = false;
  sigset_t old_mask_{};
};

// Everything that touches ptrace, in one thread of its own. The kernel takes
// ptrace requests only from the thread that seized the tracee, and a tracee
// stays in each stop until that thread resumes it: a thread that does nothing
// else resumes it at once, however long the policy's thread is busy (a full
// stdout pipe, a caller that does not call wait()).
class Tracer {
 public:
  Tracer(const WatchSpec& spec, int ready_fd) : spec_(spec), ready_fd_(ready_fd) {
    epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    control_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!control_) throw_errno("eventfd");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigchld_ = Fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigchld_) throw_errno("signalfd", "SIGCHLD");
    add(control_.get(), EPOLLIN, kControlTag);
    add(sigchld_.get(), EPOLLIN, kChildTag);
    // Signals are for the policy's thread (the stop signals) or our signalfd:
    // the thread starts with all of them blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  // Stops the thread, which first detaches every target still traced.
  ~Tracer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    poke(control_.get());
    thread_.join();
  }

  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  /// Seizes `pids` in the tracer thread; appends what that reported at once.
  void watch(std::span<const pid_t> pids, std::vector<Event>& out) {
    std::unique_lock lock(mu_);
    job_ = pids;
    lock.unlock();
    poke(control_.get());
    lock.lock();
    cv_.wait(lock, [&] { return !job_ || dead_; });
    if (job_error_) std::rethrow_exception(std::exchange(job_error_, nullptr));
    if (dead_) std::rethrow_exception(error_);
    take_locked(out);
  }

  /// Appends the events the thread has published; rethrows its failure.
  void take(std::vector<Event>& out) {
    std::lock_guard lock(mu_);
    if (dead_) std::rethrow_exception(error_);
    take_locked(out);
  }

 private:
  static constexpr std::uint64_t kControlTag = std::uint64_t{1} << 62;
  static constexpr std::uint64_t kChildTag = kControlTag + 1;

  enum class Mode {
    idle,      // missing, or nothing more to report
    traced,    // seized; its stops and exit come through waitpid
    untraced,  // a zombie leader, not seizable or let go: its pidfd says when the group ends
    exited,    // reported exited; its pidfd says when it is reaped
  };

  struct Target {
    Fd pidfd;
    Mode mode = Mode::idle;
    bool polled = false;  // its pidfd is in the epoll
    bool left_exit_stop = false;  // the leader passed its exit stop (it may be a zombie)
    std::optional<int> exit_stop_status;
    std::optional<int> status;
  };

  static void poke(int eventfd) {
    std::uint64_t one = 1;
    while (write(eventfd, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  void take_locked(std::vector<Event>& out) {
    out.insert(out.end(), published_.begin(), published_.end());
    published_.clear();
  }

  // Puts target i's pidfd in the epoll with `events`, or changes them.
  void poll_pidfd(std::size_t i, std::uint32_t events) {
    Target& t = targets_[i];
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_.get(), t.polled ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, t.pidfd.get(), &ev) != 0)
      throw_errno("epoll_ctl", "pidfd");
    t.polled = true;
  }

  void add(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl ADD");
  }

  void run() noexcept {
    try {
      loop();
    } catch (...) {
      std::lock_guard lock(mu_);
      error_ = std::current_exception();
      dead_ = true;
      cv_.notify_all();
    }
    release_all();
    poke(ready_fd_);
  }

  void loop() {
    std::array<epoll_event, 64> ready;
    for (;;) {
      auto max_wait = reaps_.max_wait();
      int timeout = max_wait ? static_cast<int>(*max_wait / milliseconds(1)) : -1;
      int n = epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("epoll_wait");
      std::vector<Event> out;
      bool look = false, scan = false;
      for (int k = 0; k < n; ++k) {
        std::uint64_t tag = ready[k].data.u64;
        if (tag == kControlTag) {
          std::uint64_t count;
          while (read(control_.get(), &count, sizeof count) < 0 && errno == EINTR) {
          }
          std::unique_lock lock(mu_);
          if (stopping_) return;
          if (job_) {
            auto pids = *job_;
            lock.unlock();
            std::exception_ptr err;
            try {
              start_all(pids, out);
            } catch (...) {
              err = std::current_exception();
            }
            lock.lock();
            published_.insert(published_.end(), out.begin(), out.end());
            out.clear();
            job_error_ = err;
            job_.reset();
            cv_.notify_all();
          }
          scan = true;  // stops that came while seizing
        } else if (tag == kChildTag) {
          look = true;
        } else {
          on_pidfd(tag, ready[k].events, out);
        }
      }
      if (look || scan) drain_children(out, scan);
      reaps_.poll([&](std::size_t i) { return pidfd_alive(targets_[i].pidfd.get()); },
                  [&](std::size_t i) { report_reaped(i, out); });
      if (!out.empty()) {
        {
          std::lock_guard lock(mu_);
          published_.insert(published_.end(), out.begin(), out.end());
        }
        poke(ready_fd_);
      }
    }
  }

  void start_all(std::span<const pid_t> pids, std::vector<Event>& out) {
    pids_ = pids;
    targets_.resize(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) by_pid_[pids[i]] = i;
    for (std::size_t i = 0; i < pids.size(); ++i) {
      Fd fd = open_target_pidfd(pids[i]);
      if (!fd) {
        out.push_back({EventKind::missing, i, std::nullopt});
        continue;
      }
      targets_[i].pidfd = std::move(fd);
      start(i, out);
    }
  }

  // Seizes target i, or reports it if it has already ended.
  void start(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    pid_t pid = pids_[i];
    if (group_exited(t.pidfd.get())) return report_exited(i, std::nullopt, out);
    if (ptrace(PTRACE_SEIZE, pid, nullptr, as_data(PTRACE_O_TRACEEXIT)) == 0) {
      t.mode = Mode::traced;
      // The seize went by number: if the pidfd's process was reaped before
      // it, the number may be another process's. Let that one go.
      if (!pidfd_alive(t.pidfd.get())) {
        detach_all({&i, 1});
        return report_exited(i, std::nullopt, out);
      }
      // A backstop for what no SIGCHLD announces: when a non-leader thread
      // execs, the kernel drops the leader we traced without a word, and the
      // process goes on untraced under the same PID until it ends.
      return poll_pidfd(i, EPOLLIN);
    }
    int err = errno;
    if (err == ESRCH) return report_exited(i, std::nullopt, out);  // gone since pidfd_open
    if (err == EPERM) {
      // The kernel refuses zombies too: a leader that called pthread_exit
      // while its threads run. Its pidfd wakes us when the group is gone.
      auto st = read_proc_stat(pid);
      if (!st || group_exited(t.pidfd.get())) return report_exited(i, std::nullopt, out);
      if (st->state == 'Z' || st->state == 'X') {
        t.mode = Mode::untraced;
        return poll_pidfd(i, EPOLLIN);
      }
      if (auto why = untraceable(pid, have_cap_sys_ptrace())) throw WatchError(*why);
      if (auto why = yama_forbids(have_cap_sys_ptrace())) throw WatchError(fmt::format("{}: {}", pid, *why));
      throw WatchError(fmt::format("{}: ptrace(PTRACE_SEIZE): {}", pid, strerror(err)));
    }
    throw_error(err, "ptrace(PTRACE_SEIZE)", std::to_string(pid));
  }

  // Handles the stops and exits waiting for the traced targets. A peek at
  // whichever child or tracee is waitable names the target at once, so one
  // exit among thousands of targets costs a few waits, not one per target.
  // The caller's own children (in tests) stop the peek: then, or when asked
  // to, look at every target.
  void drain_children(std::vector<Event>& out, bool scan_all) {
    signalfd_siginfo info;
    while (read(sigchld_.get(), &info, sizeof info) == sizeof info) {
    }
    while (!scan_all) {
      siginfo_t peek{};
      if (waitid(P_ALL, 0, &peek, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0) {
        if (errno == EINTR) continue;
        if (errno != ECHILD) throw_errno("waitid", "P_ALL");
        return;  // no tracee and no child at all
      }
      if (peek.si_pid == 0) return;  // nothing waitable
      auto it = by_pid_.find(peek.si_pid);
      if (it == by_pid_.end() || !serve(it->second, out)) scan_all = true;
    }
    for (std::size_t i = 0; i < targets_.size(); ++i) serve(i, out);
  }

  // Handles what waits for target i; false if nothing did.
  bool serve(std::size_t i, std::vector<Event>& out) {
    bool served = false;
    while (targets_[i].mode == Mode::traced) {
      int st = 0;
      pid_t r = waitpid(pids_[i], &st, WNOHANG | __WALL);
      if (r == 0) break;
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != ECHILD) throw_errno("waitpid", std::to_string(pids_[i]));
        // No longer our tracee: a non-leader thread's execve replaced the
        // leader we traced. The process lives on under the same PID.
        targets_[i].mode = Mode::idle;
        start(i, out);
        return true;
      }
      served = true;
      on_wait_status(i, st, out);
    }
    return served;
  }

  void on_wait_status(std::size_t i, int st, std::vector<Event>& out) {
    Target& t = targets_[i];
    pid_t pid = pids_[i];
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      // The whole group is gone; this wait handed the zombie to its parent.
      t.mode = Mode::idle;
      return report_exited(i, st, out);
    }
    if (!WIFSTOPPED(st)) return;
    int sig = WSTOPSIG(st);
    switch (static_cast<unsigned>(st) >> 16) {
      case PTRACE_EVENT_EXIT: {
        unsigned long msg = 0;
        if (ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &msg) != 0) return;  // ESRCH: SIGKILLed meanwhile
        auto stat = read_proc_stat(pid);
        if (msg == 0 && stat && stat->num_threads > 1) {
          // The leader alone leaves (pthread_exit) and the process lives on.
          // A traced zombie cannot be detached, so let go now and watch the
          // group's end through the pidfd, like a target found in this state.
          if (ptrace(PTRACE_DETACH, pid, nullptr, nullptr) != 0 && errno != ESRCH)
            throw_errno("ptrace(PTRACE_DETACH)", std::to_string(pid));
          t.mode = Mode::untraced;
          return;  // its pidfd is in the epoll already
        }
        t.exit_stop_status = static_cast<int>(msg);
        t.left_exit_stop = true;
        return resume(PTRACE_CONT, pid, 0);
      }
      case PTRACE_EVENT_STOP:
        // A group-stop: stay stopped, but let SIGCONT (and the real parent's
        // wait) see it as untraced. Any other trap: carry on.
        if (is_stop_signal(sig)) return resume(PTRACE_LISTEN, pid, 0);
        return resume(PTRACE_CONT, pid, 0);
      case 0:
        return resume(PTRACE_CONT, pid, sig);  // signal-delivery stop: deliver it
      default:
        return resume(PTRACE_CONT, pid, 0);
    }
  }

  static void resume(__ptrace_request req, pid_t pid, int sig) {
    // ESRCH: a SIGKILL ended the stop first; its exit comes through waitpid.
    if (ptrace(req, pid, nullptr, as_data(sig)) != 0 && errno != ESRCH)
      throw_errno(req == PTRACE_LISTEN ? "ptrace(PTRACE_LISTEN)" : "ptrace(PTRACE_CONT)", std::to_string(pid));
  }

  // Reports target i exited. `st` is the status from our wait, when we had one.
  void report_exited(std::size_t i, std::optional<int> st, std::vector<Event>& out) {
    Target& t = targets_[i];
    pid_t pid = pids_[i];
    Event ev{EventKind::exited, i, st ? st : t.exit_stop_status};
    // Zombie or reaped: read /proc by number, and trust it only if the pidfd
    // shows the process unreaped after the read (a zombie holds its PID).
    auto stat = read_proc_stat(pid);
    if (stat && stat->group_exited()) {
      if (!ev.status) ev.status = zombie_status(pid, *stat);
      ev.zombie = pidfd_alive(t.pidfd.get());
      if (ev.zombie) ev.parent = stat->ppid;
    }
    if (!ev.zombie) ev.status = ev.status ? ev.status : pidfd_exit_status(t.pidfd.get());
    t.status = ev.status;
    out.push_back(ev);
    t.mode = Mode::idle;
    if (!spec_.follow_reap) return t.pidfd.reset();  // closing drops it from the epoll
    if (t.polled) poll_pidfd(i, 0);  // no more EPOLLIN: it stays readable
    if (!pidfd_alive(t.pidfd.get())) return report_reaped(i, out);
    t.mode = Mode::exited;
    if (reaps_.follow(i)) poll_pidfd(i, 0);  // only EPOLLHUP, the reap, wakes us
  }

  void report_reaped(std::size_t i, std::vector<Event>& out) {
    Target& t = targets_[i];
    auto status = pidfd_exit_status(t.pidfd.get());
    out.push_back({EventKind::reaped, i, status ? status : t.status});
    t.mode = Mode::idle;
    t.pidfd.reset();  // closing drops it from the epoll
  }

  void on_pidfd(std::size_t i, std::uint32_t events, std::vector<Event>& out) {
    Target& t = targets_[i];
    if (t.mode == Mode::traced) {
      // Its group has gone: our wait has its status, or it is no longer ours.
      serve(i, out);
      if (t.mode == Mode::traced) report_exited(i, std::nullopt, out);  // the pidfd has the last word
      return;
    }
    if (t.mode == Mode::untraced) return report_exited(i, std::nullopt, out);
    if (t.mode == Mode::exited && (events & EPOLLHUP)) report_reaped(i, out);
  }

  // Detaches every target still traced; never throws.
  void release_all() noexcept {
    std::vector<std::size_t> traced;
    for (std::size_t i = 0; i < targets_.size(); ++i)
      if (targets_[i].mode == Mode::traced) traced.push_back(i);
    detach_all(traced);
  }

  // Interrupts the targets `which` and detaches each from the stop it
  // reports: a signal-delivery stop gets its signal back, a group-stop goes
  // back to an ordinary stop ('T'), an exit stop finishes exiting.
  void detach_all(std::span<const std::size_t> which) noexcept {
    // A leader past its exit stop cannot stop again: it is, or is about to
    // be, a zombie that only a wait detaches, once its whole group is gone.
    // In a group exit that is a moment away; after pthread_exit, with its
    // threads running on, only our exit (or theirs) releases it.
    struct Pending {
      std::size_t i;
      Clock::time_point until;
    };
    auto now = Clock::now();
    std::vector<Pending> pending;
    for (std::size_t i : which) {
      if (targets_[i].left_exit_stop) {
        pending.push_back({i, now + kExitingGrace});
      } else if (ptrace(PTRACE_INTERRUPT, pids_[i], nullptr, nullptr) == 0) {
        pending.push_back({i, now + kDetachGrace});
      }
    }
    while (!pending.empty()) {
      now = Clock::now();
      std::erase_if(pending, [&](const Pending& p) { return detach_if_stopped(p.i) || now >= p.until; });
      if (pending.empty()) break;
      auto last = std::max_element(pending.begin(), pending.end(),
                                   [](const Pending& a, const Pending& b) { return a.until < b.until; });
      pollfd p{sigchld_.get(), POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::chrono::ceil<milliseconds>(last->until - now).count()));
      signalfd_siginfo info;
      while (read(sigchld_.get(), &info, sizeof info) == sizeof info) {
      }
    }
    for (std::size_t i : which) targets_[i].mode = Mode::idle;
  }

  // true once target i is no longer traced.
  bool detach_if_stopped(std::size_t i) noexcept {
    pid_t pid = pids_[i];
    for (;;) {
      int st = 0;
      pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return true;   // ECHILD: not ours any more
      if (r == 0) return false;  // not stopped yet
      if (!WIFSTOPPED(st)) return true;  // exited: the wait detached it
      bool signal_stop = (static_cast<unsigned>(st) >> 16) == 0;
      ptrace(PTRACE_DETACH, pid, nullptr, as_data(signal_stop ? WSTOPSIG(st) : 0));
      return true;
    }
  }

  WatchSpec spec_;
  int ready_fd_;
  Fd epoll_, control_, sigchld_;
  // Shared with the policy's thread, under mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::span<const pid_t>> job_;  // watch() waiting to be served
  std::exception_ptr job_error_;
  std::vector<Event> published_;
  bool stopping_ = false;
  bool dead_ = false;  // serve() failed with error_; every target is released
  std::exception_ptr error_;
  // The tracer thread's own.
  std::span<const pid_t> pids_;
  std::vector<Target> targets_;
  ReapWatch reaps_;
  std::unordered_map<pid_t, std::size_t> by_pid_;  // target index by PID
  std::thread thread_;  // last: it starts once everything above exists
};

// The Waiter the policy holds: it only carries events from the tracer
// thread to the policy's EventLoop.
class PtraceWaiter final : public Waiter {
 public:
  PtraceWaiter(EventLoop& loop, const WatchSpec& spec) : loop_(loop) {
    ready_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!ready_) throw_errno("eventfd");
    loop_.add(ready_.get(), EPOLLIN, 0);
    tracer_.emplace(spec, ready_.get());
  }

  void watch(std::span<const pid_t> pids, std::vector<Event>& out) override { tracer_->watch(pids, out); }

  void wait(std::vector<Event>& out) override {
    std::size_t before = out.size();
    while (!loop_.stopped()) {
      tracer_->take(out);
      if (out.size() != before) return;
      if (!loop_.wait().empty()) {
        std::uint64_t count;
        while (read(ready_.get(), &count, sizeof count) < 0 && errno == EINTR) {
        }
      }
    }
  }

 private:
  EventLoop& loop_;
  ChildSignal child_signal_;  // before the tracer thread, which inherits the mask
  Fd ready_;
  std::optional<Tracer> tracer_;  // destroyed first: detaches every target
};

}  // namespace

std::optional<std::string> ptrace_probe(const Needs& needs) {
  // A pidfd per target guards the seize against PID reuse and tells zombie
  // from reaped: the pidfd backend's mechanics (and its fd reservation),
  // whatever it thinks of the status.
  Needs mechanics{needs.pids};
  if (auto why = pidfd_probe(mechanics)) return fmt::format("needs pidfds: {}", *why);
  // A multi-threaded target's exit(0) looks like its leader's pthread_exit at
  // the exit stop; the status then comes from the pidfd, which keeps it
  // after a fast reap only from Linux 6.15.
  if (needs.must_know_status && !kernel_at_least(6, 15))
    return "cannot promise every exit status before Linux 6.15";
  bool cap = have_cap_sys_ptrace();
  if (auto why = yama_forbids(cap)) return why;
  for (pid_t pid : needs.pids)
    if (auto why = untraceable(pid, cap)) return why;
  return std::nullopt;
}

std::unique_ptr<Waiter> ptrace_create(EventLoop& loop, const WatchSpec& spec) {
  return std::make_unique<PtraceWaiter>(loop, spec);
}

}  // namespace pwait
