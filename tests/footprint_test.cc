// shed_startup_pages: the program's read-only pages leave its page tables,
// and the program goes on running (they come back from the page cache).

#include "pwait/footprint.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

namespace pwait {
namespace {

// Resident pages backed by files (the third field of /proc/self/statm).
long file_backed_resident_pages() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0, shared = -1;
  statm >> size >> resident >> shared;
  return shared;
}

TEST(Footprint, ShedsReadOnlyPagesAndKeepsRunning) {
  long before = file_backed_resident_pages();
  ASSERT_GT(before, 0);
  shed_startup_pages();
  long after = file_backed_resident_pages();
  EXPECT_LT(after, before) << "no page of the test program's code left its page tables";
  // The code and constants used here and by the rest of the suite fault back in.
  EXPECT_GT(file_backed_resident_pages(), 0);
}

// Constants in a read-only segment; the middle page lies wholly inside.
alignas(4096) const char kConstants[3 * 4096] = {1};

TEST(Footprint, KeepsAPageThatIsNoLongerTheFiles) {
  // What a debugger does to set a breakpoint: write through /proc/self/mem,
  // which gives the process a private copy of the page.
  const char* target = &kConstants[4096];
  int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ASSERT_GE(mem, 0);
  char patched = 42;
  ASSERT_EQ(pwrite(mem, &patched, 1, reinterpret_cast<off_t>(target)), 1);
  close(mem);
  ASSERT_EQ(*static_cast<const volatile char*>(target), 42);
  shed_startup_pages();
  EXPECT_EQ(*static_cast<const volatile char*>(target), 42) << "the private copy was dropped: a breakpoint would vanish";
}

}  // namespace
}  // namespace pwait
