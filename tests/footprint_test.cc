// shed_startup_pages: the program's read-only pages leave its page tables,
// and the program goes on running (they come back from the page cache).

#include "pwait/footprint.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace pwait
