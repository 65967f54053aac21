#include "pwait/footprint.h"

#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace pwait {
namespace {

int shed_read_only_segments(dl_phdr_info* info, std::size_t, void*) {
  auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[k];
    // A segment without PF_W is never written (RELRO lies inside a writable
    // one), so its pages are the file's: dropping them loses nothing. Only
    // whole pages inside the segment, never one it shares with a neighbour.
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    std::uintptr_t end = begin + ph.p_memsz;
    begin = (begin + page - 1) & ~(page - 1);
    end &= ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  return 1;  // the program itself comes first; shared libraries are left alone
}

}  // namespace

void shed_startup_pages() { dl_iterate_phdr(shed_read_only_segments, nullptr); }

}  // namespace pwait
