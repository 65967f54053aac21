#pragma once
// A process with all its descendants as one job (issue 13, --tree): a PID
// target ends once it and every process it started, and they started, have
// ended, wherever those were reparented to meanwhile (a daemonising child
// still counts).
//
// Descendants are learnt from the proc connector's fork events, subscribed
// to before the first scan of /proc/PID/task/*/children, so none is missed;
// exit events say when to ask a descendant's record whether its whole thread
// group has gone. Where the connector is unavailable (an unprivileged user
// before Linux 6.6), the trees are scanned every 100 ms instead: a
// descendant whose parent ends between two scans escapes then, and -v says
// so. The root's own end, with its status, comes from the backend; the
// policy holds it here until the rest of its tree is gone.

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "pwait/event_loop.h"
#include "pwait/pidref.h"
#include "pwait/proc_connector.h"
#include "pwait/waiter.h"

namespace pwait {

class TreeWatch final : public EventLoop::Source {
 public:
  /// Watches the descendants of `roots` (targets 0..roots.size()-1); a
  /// root's held events go to `out` once its tree is empty.
  TreeWatch(EventLoop& loop, Events& out, std::span<const PidRef> roots);
  ~TreeWatch();
  TreeWatch(const TreeWatch&) = delete;
  TreeWatch& operator=(const TreeWatch&) = delete;

  /// Subscribes (or falls back to scanning) and takes in what each root has
  /// started so far. Returns why the trees are not exact here, if they are not.
  std::optional<std::string> watch();

  /// A root's event (from the backend): true when it is held, to come back
  /// through `out` once the root's descendants have all ended.
  bool hold(const Event& e);
  /// Whether process events were lost (the connector's buffer overflowed)
  /// and the trees were scanned again: a descendant may have been missed.
  bool lost() const { return lost_; }
  /// How many descendants of root `i` are still running.
  std::size_t running(std::size_t i) const { return roots_info_[i].live; }
  /// How many descendants of root `i` have been seen.
  std::size_t descendants(std::size_t i) const { return roots_info_[i].seen; }

  /// Sends `sig` to every descendant of root `i` still running, each
  /// through its pinned record.
  void signal(std::size_t i, int sig);

  void ready(std::uint32_t index, std::uint32_t events) override;
  void expired() override;

  /// Whether --tree is exact here (the proc connector answers), and if not, why.
  static std::optional<std::string> inexact_why();

 private:
  struct Member {
    PidRef ref;
    std::size_t root;
    bool pinned;  // false: gone when its fork event was read; a parent only, until its exit event
  };
  struct Root {
    std::size_t live = 0;  // descendants not yet ended
    std::size_t seen = 0;
    std::vector<Event> held;
  };
  std::optional<std::size_t> root_of(pid_t parent) const;
  void scan(pid_t pid, const PidRef& ref, std::size_t root);  // adds what it has started, recursively
  void adopt(pid_t child, pid_t parent, std::size_t root, bool scan_it);
  void check(pid_t pid);  // a member or root may have ended: ask its record
  void rescan();
  void drain();
  void release(std::size_t root);

  EventLoop& loop_;
  Events& out_;
  std::span<const PidRef> roots_;
  std::vector<Root> roots_info_;
  // By PID, kept in the order events come (a PID ends before it is reused):
  // the descendants not yet ended, and the roots still running.
  std::unordered_map<pid_t, Member> members_;
  std::unordered_map<pid_t, std::size_t> running_roots_;
  bool lost_ = false;  // a scan (no connector, or after an overflow) may have missed some
  std::unique_ptr<ProcConnector> connector_;
};

}  // namespace pwait
