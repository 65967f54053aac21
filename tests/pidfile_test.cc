// Naming targets in text: operands and pidfiles, parsed as they arrive.
// No processes.

#include "pwait/pidfile.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>

#include "pwait/error.h"
#include "pwait/fd.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;

std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(ParseNamed, PidsAndHandles) {
  EXPECT_EQ(parse_named("1").pid, 1);
  EXPECT_EQ(parse_named("00042").pid, 42);
  EXPECT_EQ(parse_named("2147483647").pid, INT_MAX);
  Named h = parse_named("1234:5678");
  EXPECT_EQ(h.pid, 1234);
  EXPECT_EQ(h.inode, 5678u);
  EXPECT_EQ(parse_named("1234").inode, 0u);
}

TEST(ParseNamed, RejectsWhatCannotBeAPidNamingIt) {
  for (std::string bad : {"", "abc", "0", "12abc", "1.5", "-3", "+3", " 3", "3 ", "0x10", "2147483648",
                          "99999999999999999999999", "1:", "1:0", "1:x", ":5", "1:2:3", "1:-2"}) {
    std::string what = what_of([&] { parse_named(bad); });
    EXPECT_NE(what, "") << "accepted '" << bad << "'";
    EXPECT_NE(what.find("'" + bad + "'"), std::string::npos) << what;
  }
}

std::vector<Named> parse_in_chunks(std::string_view text, std::size_t chunk, std::string name = "f") {
  std::vector<Named> got;
  PidfileParser parser(std::move(name));
  auto add = [&](const Named& n) { got.push_back(n); };
  for (std::size_t at = 0; at < text.size(); at += chunk) parser.feed(text.substr(at, chunk), add);
  parser.finish(add);
  return got;
}

std::vector<pid_t> pids(const std::vector<Named>& named) {
  std::vector<pid_t> out;
  for (const Named& n : named) out.push_back(n.pid);
  return out;
}

TEST(PidfileParser, SeparatorsCommentsAndChunks) {
  std::string text = "# jobs\n1 2\n3\t4\r\n\n5,6,,7 , 8 # the last ones\n  9:99 # a handle\n10";
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 1000u}) {
    auto got = parse_in_chunks(text, chunk);
    EXPECT_EQ(pids(got), (std::vector<pid_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})) << "chunks of " << chunk;
    EXPECT_EQ(got[8].inode, 99u);
  }
  EXPECT_TRUE(parse_in_chunks("", 1).empty());
  EXPECT_TRUE(parse_in_chunks(" \n # nothing\n", 1).empty());
}

TEST(PidfileParser, ErrorsNameTheFileAndTheLine) {
  std::string what = what_of([] { parse_in_chunks("12\n\n13 1x3\n", 2, "jobs.pid"); });
  EXPECT_EQ(what, "pidfile 'jobs.pid', line 3: invalid PID '1x3': not a decimal number");
  what = what_of([] { parse_in_chunks(std::string("12\0\x7f" "ELF", 7), 3, "a.out"); });
  EXPECT_EQ(what, "pidfile 'a.out': binary data, not a list of PIDs");
  what = what_of([] { parse_in_chunks(std::string(17 << 20, ' '), 1 << 20, "big"); });
  EXPECT_EQ(what, "pidfile 'big': larger than 16 MiB, not a list of PIDs");
  what = what_of([] { parse_in_chunks(std::string(100000, '7'), 4096, "long"); });
  EXPECT_NE(what.find("pidfile 'long', line 1: invalid PID '7777"), std::string::npos) << what;
  EXPECT_LT(what.size(), 200u);
  what = what_of([] { parse_in_chunks("1\n2\n", 1, "x\ny\x1b[2J"); });
  EXPECT_EQ(what, "");
  what = what_of([] { parse_in_chunks("1 x\n", 1, "x\ny\x1b[2J"); });
  EXPECT_EQ(what, "pidfile 'x\\x0ay\\x1b[2J', line 1: invalid PID 'x': not a decimal number");
}

class ReadPidfile : public ::testing::Test {
 protected:
  std::string write(const std::string& content) {
    path_ = ::testing::TempDir() + "pwait_pidfile_" + std::to_string(getpid());
    std::ofstream(path_, std::ios::binary) << content;
    return path_;
  }
  void TearDown() override {
    if (!path_.empty()) unlink(path_.c_str());
  }
  std::vector<pid_t> read(const std::string& path, std::chrono::milliseconds deadline = 5s) {
    EventLoop loop(Clock::now(), deadline);
    std::vector<pid_t> got;
    complete_ = read_pidfile(loop, path, [&](const Named& n) { got.push_back(n.pid); });
    return got;
  }
  std::string path_;
  bool complete_ = false;
};

TEST_F(ReadPidfile, ARegularFile) {
  EXPECT_EQ(read(write("5\n6 7\n")), (std::vector<pid_t>{5, 6, 7}));
  EXPECT_TRUE(complete_);
  EXPECT_TRUE(read("/dev/null").empty());
  EXPECT_TRUE(complete_);
}

TEST_F(ReadPidfile, RefusesMissingDirectoryAndBinary) {
  EXPECT_NE(what_of([&] { read("/nonexistent/pwait.pid"); }).find("No such file"), std::string::npos);
  EXPECT_NE(what_of([&] { read("/"); }).find("Is a directory"), std::string::npos);
  EXPECT_NE(what_of([&] { read("/dev/zero"); }).find("binary data"), std::string::npos);
}

TEST_F(ReadPidfile, AFifoThatStaysSilentEndsAtTheDeadline) {
  path_ = ::testing::TempDir() + "pwait_fifo_" + std::to_string(getpid());
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  // A writer that says one PID and then nothing: the read ends at the deadline, the PID read.
  Fd writer(open(path_.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::write(writer.get(), "42\n", 3), 3);
  auto started = Clock::now();
  EXPECT_EQ(read(path_, 300ms), std::vector<pid_t>{42});
  EXPECT_FALSE(complete_);
  EXPECT_GE(Clock::now() - started, 300ms);
  // And one with no writer at all.
  writer.reset();
  EXPECT_TRUE(read(path_, 200ms).empty());
  EXPECT_FALSE(complete_);
}

}  // namespace
}  // namespace pwait
