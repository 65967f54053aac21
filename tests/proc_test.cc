// Decoding /proc/PID/stat and wait statuses: no processes needed but our own.

#include "pwait/proc.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pwait/exit_codes.h"
#include "pwait/report.h"

namespace pwait {
namespace {

// A zombie's stat line as Linux 6.x prints it: exit_code 0x700 (exit 7), one thread.
constexpr std::string_view kZombie =
    "4242 (my (odd) name) Z 999 4242 999 0 -1 4227084 115 0 0 0 0 0 0 0 20 0 1 0 123456 0 0 "
    "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 1792\n";

TEST(ParseProcStat, ZombieFields) {
  auto st = parse_proc_stat(kZombie);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "my (odd) name");
  EXPECT_EQ(st->state, 'Z');
  EXPECT_EQ(st->ppid, 999);
  EXPECT_EQ(st->pgrp, 4242);
  EXPECT_EQ(st->session, 999);
  EXPECT_EQ(st->tty_nr, 0);
  EXPECT_EQ(st->num_threads, 1);
  EXPECT_EQ(st->start_time, 123456u);
  EXPECT_EQ(st->exit_code, 0x700);
  EXPECT_TRUE(st->group_exited());
}

TEST(ParseProcStat, ZombieLeaderWithLiveThreadsHasNotExited) {
  std::string text(kZombie);
  text.replace(text.find(" 20 0 1 0 "), 10, " 20 0 3 0 ");
  auto st = parse_proc_stat(text);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->num_threads, 3);
  EXPECT_FALSE(st->group_exited());
}

TEST(ParseProcStat, RejectsMalformed) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("12 (x"));
  EXPECT_FALSE(parse_proc_stat("12 (x) Z 1"));
  EXPECT_FALSE(parse_proc_stat("12 (x) ZZ 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"));
}

TEST(ParseProcStatus, TheFieldsPwaitReads) {
  constexpr std::string_view text =
      "Name:\tmy\\nname\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n"
      "PPid:\t999\nTracerPid:\t77\nUid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\n"
      "CapEff:\t0000000000080000\n";
  auto st = parse_proc_status(text);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->name, "my\\nname");
  EXPECT_EQ(st->tgid, 4242);
  EXPECT_EQ(st->ppid, 999);
  EXPECT_EQ(st->tracer, 77);
  EXPECT_EQ(st->uid, (std::array<uid_t, 4>{1000, 1001, 1002, 1003}));
  EXPECT_EQ(st->gid, (std::array<gid_t, 4>{100, 101, 102, 103}));
  EXPECT_EQ(st->cap_eff, 1u << 19);
  EXPECT_FALSE(parse_proc_status("Name:\tx\nUid:\t1 1 1 1\nGid:\t1 1 1 1\n")) << "no Tgid";
  EXPECT_FALSE(parse_proc_status("Tgid:\t1\nUid:\t1 1\nGid:\t1 1 1 1\n")) << "a short Uid";
  EXPECT_FALSE(parse_proc_status(""));
}

TEST(ReadProcStat, Self) {
  auto st = read_proc_stat(getpid());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->ppid, getppid());
  EXPECT_NE(st->state, 'Z');
  EXPECT_GT(st->start_time, 0u);
  EXPECT_EQ(read_tgid(getpid()), getpid());
  auto status = read_proc_status(getpid());
  ASSERT_TRUE(status);
  EXPECT_EQ(status->ppid, getppid());
  EXPECT_EQ(status->uid[0], getuid());
}

TEST(ReadProcStat, NoSuchProcess) {
  // PID numbers above pid_max never exist.
  EXPECT_FALSE(read_proc_stat(pid_max() + 1));
  EXPECT_FALSE(read_tgid(pid_max() + 1));
}

TEST(Report, DescribeStatus) {
  EXPECT_EQ(describe_status(0x700), "exited with status 7");
  EXPECT_EQ(describe_status(9), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(describe_status(0x80 | 11), "killed by signal 11 (SIGSEGV), core dumped");
}

TEST(Report, VerboseLines) {
  EXPECT_EQ(verbose_line({EventKind::exited, 0, 0}, 12), "12: exited with status 0");
  EXPECT_EQ(verbose_line({EventKind::exited, 0, std::nullopt}, 12), "12: exited (status unknown)");
  EXPECT_EQ(verbose_line({EventKind::exited, 0, 9, true, 99}, 12),
            "12: killed by signal 9 (SIGKILL), zombie (parent 99 has not reaped it)");
  EXPECT_EQ(verbose_line({EventKind::reaped, 0, 0}, 12), "12: reaped");
}

TEST(Report, JsonLine) {
  using namespace std::chrono_literals;
  std::string name = "my \"job\"\n\xff";
  EXPECT_EQ(json_line("exited", {12, &name, 4242}, 0x300, true, 99, "pidfd", 1500ms),
            R"({"event":"exited","pid":12,"name":"my \"job\"\u000a\u00ff","inode":4242,"status":{"code":3},"zombie":true,"parent":99,"backend":"pidfd","elapsed":1.500000})");
  EXPECT_EQ(json_line("exited", {12}, 0x86, false, 0, "poll", 0ms),
            R"({"event":"exited","pid":12,"name":null,"inode":null,"status":{"signal":6,"name":"SIGABRT","core_dumped":true},"zombie":false,"parent":null,"backend":"poll","elapsed":0.000000})");
  EXPECT_EQ(json_line("timeout", {12}, std::nullopt, false, 0, "pidfd", 0ms),
            R"({"event":"timeout","pid":12,"name":null,"inode":null,"status":null,"zombie":false,"parent":null,"backend":"pidfd","elapsed":0.000000})");
}

TEST(Report, StatusExitCode) {
  EXPECT_EQ(status_exit_code(0), 0);
  EXPECT_EQ(status_exit_code(0x300), 3);
  EXPECT_EQ(status_exit_code(15), 143);
  EXPECT_EQ(status_exit_code(std::nullopt), exit_code::status_unknown);
}

}  // namespace
}  // namespace pwait
