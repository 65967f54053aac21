#include "pwait/tree.h"

#include <dirent.h>

#include <cerrno>
#include <charconv>
#include <fstream>

#include <fmt/format.h>

#include "pwait/error.h"

namespace pwait {
namespace {

constexpr auto kScanInterval = std::chrono::milliseconds(100);
constexpr std::uint32_t kTreeConnectorIndex = 0;

// The PIDs in a /proc/PID/task/TID/children file.
std::vector<pid_t> read_pids(const std::string& file) {
  std::ifstream in(file);
  std::vector<pid_t> pids;
  for (std::string word; in >> word;) {
    pid_t pid = 0;
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), pid);
    if (ec == std::errc() && end == word.data() + word.size() && pid > 0) pids.push_back(pid);
  }
  return pids;
}

// The children of process `pid`, of all its threads; empty once it is gone.
std::vector<pid_t> children_of(pid_t pid) {
  std::string task = fmt::format("/proc/{}/task", pid);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(task.c_str()), closedir);
  std::vector<pid_t> all;
  if (!dir) return all;
  while (dirent* e = readdir(dir.get())) {
    if (e->d_name[0] == '.') continue;
    auto some = read_pids(task + "/" + e->d_name + "/children");
    all.insert(all.end(), some.begin(), some.end());
  }
  return all;
}

}  // namespace

TreeWatch::TreeWatch(EventLoop& loop, Events& out, std::span<const PidRef> roots)
    : loop_(loop), out_(out), roots_(roots), roots_info_(roots.size()) {}

TreeWatch::~TreeWatch() {
  if (connector_) loop_.remove(connector_->fd());
  loop_.forget(*this);
}

std::optional<std::string> TreeWatch::inexact_why() {
  std::string why;
  auto connector = ProcConnector::subscribe(why, std::nullopt, proc_event::PROC_EVENT_FORK | proc_event::PROC_EVENT_EXIT);
  if (connector) return std::nullopt;
  return why;
}

std::optional<std::string> TreeWatch::watch() {
  std::string why;
  // Subscribed first, scanned second: a fork from now on is in the socket.
  connector_ = ProcConnector::subscribe(why, loop_.deadline(),
                                        proc_event::PROC_EVENT_FORK | proc_event::PROC_EVENT_EXIT);
  if (connector_) loop_.add(connector_->fd(), EPOLLIN, *this, kTreeConnectorIndex);
  for (std::size_t i = 0; i < roots_.size(); ++i)
    if (roots_[i].life() == PidRef::Life::running) running_roots_.emplace(roots_[i].pid(), i);
  for (std::size_t i = 0; i < roots_.size(); ++i) scan(roots_[i].pid(), roots_[i], i);
  if (connector_) {
    drain();
    return std::nullopt;
  }
  loop_.set_timer(*this, Clock::now() + kScanInterval);
  return why;
}

std::optional<std::size_t> TreeWatch::root_of(pid_t parent) const {
  if (auto m = members_.find(parent); m != members_.end()) return m->second.root;
  if (auto r = running_roots_.find(parent); r != running_roots_.end()) return r->second;
  return std::nullopt;
}

void TreeWatch::scan(pid_t pid, const PidRef& ref, std::size_t root) {
  std::vector<pid_t> children = children_of(pid);
  // Read by number: the list is this process's only if it still held the
  // PID after the read.
  if (!ref.alive()) return;
  for (pid_t child : children) adopt(child, pid, root, true);
}

void TreeWatch::adopt(pid_t child, pid_t parent, std::size_t root, bool scan_it) {
  if (members_.contains(child) || running_roots_.contains(child)) return;
  PidRef ref;
  bool live = false;
  // Out of fds, pinning throws std::system_error: pwait fails rather than
  // lose a member and return while it runs.
  try {
    live = PidRef::pin(child, false, 0, ref) == PidRef::Result::pinned;
  } catch (const WatchError&) {
    return;  // a thread, not a process: it is its group's, which is here already
  }
  if (live && scan_it) {
    // Read from the parent's list, pinned after: the PID may have been
    // reused in between. Its parent says whether it is the child read.
    auto st = ref.stat();
    if (!st || st->ppid != parent) return;
  }
  live = live && ref.life() == PidRef::Life::running;
  ++roots_info_[root].seen;
  if (!live) {
    // Ended already (its fork event read late). Its own forks may still be
    // queued behind: it stays a parent, not counted live, until its exit
    // event (read in order, after them) removes it.
    if (!scan_it) members_.emplace(child, Member{PidRef::unpinned(child), root, false});
    return;
  }
  ++roots_info_[root].live;
  auto [it, added] = members_.emplace(child, Member{std::move(ref), root, true});
  if (scan_it) scan(child, it->second.ref, root);
}

void TreeWatch::check(pid_t pid) {
  if (auto r = running_roots_.find(pid); r != running_roots_.end()) {
    if (roots_[r->second].life() != PidRef::Life::running) running_roots_.erase(r);
    return;
  }
  auto m = members_.find(pid);
  if (m == members_.end()) return;
  if (m->second.pinned && m->second.ref.life() == PidRef::Life::running) return;
  std::size_t root = m->second.root;
  bool was_live = m->second.pinned;
  members_.erase(m);
  if (was_live && --roots_info_[root].live == 0) release(root);
}

void TreeWatch::release(std::size_t root) {
  auto& held = roots_info_[root].held;
  out_.insert(out_.end(), held.begin(), held.end());
  held.clear();
}

void TreeWatch::drain() {
  for (;;) {
    auto read = connector_->receive(ProcConnector::kMaxPerDrain, [&](const ProcMessage& m) {
      if (m.what == proc_event::PROC_EVENT_FORK) {
        const auto& f = m.event.event_data.fork;
        if (f.child_pid != f.child_tgid) return;  // a new thread
        if (auto root = root_of(f.parent_tgid)) adopt(f.child_tgid, f.parent_tgid, *root, false);
      } else if (m.what == proc_event::PROC_EVENT_EXIT) {
        check(m.event.event_data.exit.process_tgid);
      }
    });
    if (read == ProcConnector::Read::empty) return;
    if (read == ProcConnector::Read::more) continue;
    // Events were lost (the kernel drops them until the queue is read
    // empty): read it empty, then look at every tree again.
    lost_ = true;
    while (connector_->receive(ProcConnector::kMaxPerDrain, [](const ProcMessage&) {}) != ProcConnector::Read::empty) {
    }
    rescan();
    return;
  }
}

void TreeWatch::rescan() {
  for (auto [pid, root] : std::vector<std::pair<pid_t, std::size_t>>(running_roots_.begin(), running_roots_.end()))
    check(pid);
  std::vector<pid_t> pids;
  for (const auto& [pid, m] : members_) pids.push_back(pid);
  for (pid_t pid : pids) check(pid);
  for (auto [pid, root] : std::vector<std::pair<pid_t, std::size_t>>(running_roots_.begin(), running_roots_.end()))
    scan(pid, roots_[root], root);
  pids.clear();
  for (const auto& [pid, m] : members_) pids.push_back(pid);
  for (pid_t pid : pids)
    if (auto m = members_.find(pid); m != members_.end() && m->second.pinned) scan(pid, m->second.ref, m->second.root);
}

bool TreeWatch::hold(const Event& e) {
  if (e.target >= roots_.size()) return false;
  // What the root started before it ended is in the socket by now (the
  // kernel queues a fork event before the fork returns).
  if (connector_) drain();
  check(roots_[e.target].pid());
  Root& r = roots_info_[e.target];
  if (r.live == 0 && r.held.empty()) return false;
  r.held.push_back(e);
  return true;
}

void TreeWatch::signal(std::size_t i, int sig) {
  if (connector_) drain();  // the latest forks first
  for (const auto& [pid, m] : members_)
    if (m.root == i && m.pinned) m.ref.send_signal(sig);
}

void TreeWatch::ready(std::uint32_t, std::uint32_t) { drain(); }

void TreeWatch::expired() {
  rescan();
  loop_.set_timer(*this, Clock::now() + kScanInterval);
}

}  // namespace pwait
