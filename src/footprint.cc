#include "pwait/footprint.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "pwait/fd.h"

namespace pwait {
namespace {

// /proc/self/pagemap: one 64-bit entry per page of the address space.
constexpr std::uint64_t kPresent = std::uint64_t{1} << 63;
constexpr std::uint64_t kFileOrShared = std::uint64_t{1} << 61;

struct Shedder {
  std::uintptr_t page;
  Fd pagemap;

  // Drops the pages of [begin, end) (page-aligned) that are still the
  // file's. A debugger's breakpoint or a uprobe gives the process a private
  // copy of a code page: that copy is kept, or the breakpoint would vanish.
  void drop_file_pages(std::uintptr_t begin, std::uintptr_t end) const {
    std::array<std::uint64_t, 512> entries;
    std::uintptr_t run = begin;  // start of the pages not yet dropped or kept
    for (std::uintptr_t at = begin; at < end;) {
      std::size_t n = std::min<std::uintptr_t>(entries.size(), (end - at) / page);
      auto bytes = static_cast<ssize_t>(n * sizeof entries[0]);
      if (pread(pagemap.get(), entries.data(), static_cast<std::size_t>(bytes),
                static_cast<off_t>(at / page * sizeof entries[0])) != bytes)
        return;  // cannot tell: keep the rest
      for (std::size_t k = 0; k < n; ++k, at += page) {
        bool private_copy = (entries[k] & kPresent) && !(entries[k] & kFileOrShared);
        if (!private_copy) continue;
        if (at > run) madvise(reinterpret_cast<void*>(run), at - run, MADV_DONTNEED);
        run = at + page;
      }
    }
    if (end > run) madvise(reinterpret_cast<void*>(run), end - run, MADV_DONTNEED);
  }
};

int shed_read_only_segments(dl_phdr_info* info, std::size_t, void* data) {
  const auto& shedder = *static_cast<const Shedder*>(data);
  std::uintptr_t page = shedder.page;
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[k];
    // A segment without PF_W is the file's (RELRO lies inside a writable
    // one), so its pages can be read back. Only whole pages inside the
    // segment, never one it shares with a neighbour.
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    std::uintptr_t end = begin + ph.p_memsz;
    begin = (begin + page - 1) & ~(page - 1);
    end &= ~(page - 1);
    if (end > begin) shedder.drop_file_pages(begin, end);
  }
  return 1;  // the program itself comes first; shared libraries are left alone
}

}  // namespace

void shed_startup_pages() {
  Shedder shedder{static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)),
                  Fd(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC))};
  if (!shedder.pagemap) return;  // without it a breakpoint could be dropped
  dl_iterate_phdr(shed_read_only_segments, &shedder);
}

}  // namespace pwait
