#include "pwait/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "pwait/error.h"
#include "pwait/pidref.h"
#include "pwait/report.h"

namespace pwait {
namespace {

constexpr long kCgroup2Magic = 0x63677270;  // "cgrp"

bool is_cgroup2_dir(const std::string& dir) {
  struct statfs fs {};
  struct stat st {};
  return statfs(dir.c_str(), &fs) == 0 && fs.f_type == kCgroup2Magic && stat(dir.c_str(), &st) == 0 &&
         S_ISDIR(st.st_mode);
}

// "populated 0|1" in cgroup.events text; nullopt if absent.
std::optional<bool> populated(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    std::string_view line = text.substr(at, text.find('\n', at) - at);
    at += line.size() + 1;
    if (line.starts_with("populated ")) return line.substr(10) != "0";
  }
  return std::nullopt;
}

Cgroup cgroup_at(const std::string& mount, std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty() || path == "/")
    throw WatchError("the root cgroup is never empty (it has no cgroup.events): name a cgroup below it");
  return {path, mount + path};
}

// The 0:: line of /proc/PID/cgroup: the process's cgroup v2 path.
std::string cgroup_path_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return {};
}

}  // namespace

std::optional<std::string> cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point) return point;
  }
  return std::nullopt;
}

Cgroup resolve_cgroup(std::string_view text) {
  auto mount = cgroup2_mount();
  if (!mount) throw WatchError("no cgroup2 file system is mounted (see /proc/self/mountinfo)");
  std::string given(text);
  // A filesystem path under the mount, or the cgroup's path from the root
  // (absolute, as /proc/PID/cgroup writes it, or relative).
  if (given.starts_with(*mount + "/") || given == *mount) {
    Cgroup c = cgroup_at(*mount, given.substr(mount->size()));
    if (is_cgroup2_dir(c.dir)) return c;
  } else {
    Cgroup c = cgroup_at(*mount, given.starts_with('/') ? given : "/" + given);
    if (is_cgroup2_dir(c.dir)) return c;
  }
  throw UsageError(fmt::format("no cgroup {} under {}", shown(text), *mount));
}

std::optional<Cgroup> cgroup_of(pid_t pid) {
  auto mount = cgroup2_mount();
  if (!mount) throw WatchError("no cgroup2 file system is mounted (see /proc/self/mountinfo)");
  PidRef ref;
  if (PidRef::pin(pid, true, 0, ref) != PidRef::Result::pinned) return std::nullopt;
  std::string path = cgroup_path_of(pid);
  // Read by number: it counts only if the pinned process still held the PID after.
  if (!ref.alive()) return std::nullopt;
  if (path.empty()) throw WatchError(fmt::format("--cgroup-of {}: it is in no cgroup v2", pid));
  try {
    return cgroup_at(*mount, path);
  } catch (const WatchError&) {
    throw WatchError(fmt::format("--cgroup-of {}: it is in the root cgroup, which is never empty", pid));
  }
}

namespace {

// Signals what cgroup.procs in `dir` lists, and below, each through a pin.
void signal_each(const Cgroup& c, const std::string& dir, int sig) {
  std::ifstream procs(dir + "/cgroup.procs");
  for (pid_t pid; procs >> pid;) {
    PidRef ref;
    // cgroup.procs lists processes, not threads: a failure to pin one (the
    // fd limit) is pwait's, and said, not a process silently spared.
    if (PidRef::pin(pid, false, 0, ref) != PidRef::Result::pinned) continue;
    // Read by number, pinned after: it counts only if the pinned process
    // is in the cgroup still.
    std::string path = cgroup_path_of(pid);
    if ((path == c.path || path.starts_with(c.path + "/")) && ref.alive()) ref.send_signal(sig);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return;
  while (dirent* e = readdir(d.get()))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') signal_each(c, dir + "/" + e->d_name, sig);
}

}  // namespace

void signal_cgroup(const Cgroup& c, int sig) {
  if (sig == SIGKILL) {
    Fd kill_file(open((c.dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC));
    if (kill_file && write(kill_file.get(), "1", 1) == 1) return;
  }
  signal_each(c, c.dir, sig);
}

CgroupWatch::~CgroupWatch() { loop_.forget(*this); }

void CgroupWatch::watch(std::span<const Cgroup> cgroups) {
  cgroups_ = cgroups;
  events_fd_.resize(cgroups.size());
  for (std::size_t k = 0; k < cgroups.size(); ++k) {
    std::string file = cgroups[k].dir + "/cgroup.events";
    Fd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) {  // removed since it was named: it has ended
        ended(k);
        continue;
      }
      throw_errno("open", file);
    }
    // kernfs files are always readable: only EPOLLPRI says one changed.
    loop_.add(fd.get(), EPOLLPRI, *this, static_cast<std::uint32_t>(k));
    events_fd_[k] = std::move(fd);
    look(k);
  }
}

void CgroupWatch::ready(std::uint32_t k, std::uint32_t) {
  if (events_fd_[k]) look(k);
}

// Reads cgroup.events again (which also re-arms EPOLLPRI); reports the
// cgroup ended when nothing populates it, or when it is gone.
void CgroupWatch::look(std::size_t k) {
  char buf[256];
  ssize_t n;
  do n = pread(events_fd_[k].get(), buf, sizeof buf - 1, 0);
  while (n < 0 && errno == EINTR);
  bool ended;
  if (n < 0) {
    if (errno != ENODEV) throw_errno("read", cgroups_[k].dir + "/cgroup.events");
    ended = true;  // removed while watched: no event came, the read says so
  } else {
    auto p = populated({buf, static_cast<std::size_t>(n)});
    if (!p) throw_error(EINVAL, "parse", cgroups_[k].dir + "/cgroup.events");
    ended = !*p;
  }
  if (!ended) return;
  this->ended(k);
  events_fd_[k].reset();  // closing drops it from the epoll
}

void CgroupWatch::ended(std::size_t k) {
  out_.push_back({EventKind::exited, first_index_ + k, std::nullopt});
  if (reaped_) out_.push_back({EventKind::reaped, first_index_ + k, std::nullopt});
}

}  // namespace pwait
