// Parsing of PIDs, durations, pidfiles and the command line: no processes.

#include "pwait/options.h"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "pwait/error.h"
#include "pwait/exit_codes.h"
#include "pwait/output.h"
#include "pwait/proc.h"

namespace pwait {
namespace {

using namespace std::chrono_literals;

ParseResult parse(std::vector<std::string> args, std::string_view env = "") {
  std::vector<const char*> argv{"pwait"};
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_options(static_cast<int>(argv.size()), argv.data(), env);
}

// The line pwait prints when `args` are a usage error (exit 2); "" when they parse.
std::string error_of(std::vector<std::string> args, std::string_view env = "") {
  try {
    parse(std::move(args), env);
    return "";
  } catch (const UsageError& e) {
    EXPECT_EQ(failure_exit_code(e), exit_code::usage);
    return failure_message(e);
  }
}

TEST(ParsePid, AcceptsDecimalInRange) {
  EXPECT_EQ(parse_pid("1"), 1);
  EXPECT_EQ(parse_pid("1234"), 1234);
  EXPECT_EQ(parse_pid("00042"), 42);
}

TEST(ParsePid, RejectsBadValuesNamingThem) {
  for (std::string bad : {"", "abc", "0", "12abc", "99999999999", "1.5", "-3", "+3", " 3", "3 ",
                          "0x10", "4294967297", "99999999999999999999999"}) {
    try {
      parse_pid(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(ParsePid, RejectsAbovePidMax) {
  EXPECT_THROW(parse_pid(std::to_string(static_cast<long long>(pid_max()) + 1)), UsageError);
  EXPECT_EQ(parse_pid(std::to_string(pid_max())), pid_max());
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parse_duration("10", "t"), 10s);
  EXPECT_EQ(parse_duration("1.5", "t"), 1500ms);
  EXPECT_EQ(parse_duration("1.5s", "t"), 1500ms);
  EXPECT_EQ(parse_duration("250ms", "t"), 250ms);
  EXPECT_EQ(parse_duration("2m", "t"), 120s);
  EXPECT_EQ(parse_duration("1h", "t"), 3600s);
  EXPECT_EQ(parse_duration("0", "t"), 0s);
}

TEST(ParseDuration, RejectsBadValues) {
  for (std::string bad : {"", "5x", "x5", "-1", "1.", ".5", "1..5", "1.2.3", "s", "5 s", "1e3",
                          "inf", "nan", "9999999999h", "5sec"}) {
    EXPECT_THROW(parse_duration(bad, "timeout"), UsageError) << "'" << bad << "'";
  }
  try {
    parse_duration("5x", "timeout");
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("timeout '5x'"), std::string::npos) << e.what();
  }
}

TEST(ParsePidList, WhitespaceSeparated) {
  EXPECT_EQ(parse_pid_list("1 2\n3\t4\r\n\n", "f"), (std::vector<pid_t>{1, 2, 3, 4}));
  EXPECT_TRUE(parse_pid_list("", "f").empty());
  EXPECT_TRUE(parse_pid_list(" \n ", "f").empty());
}

TEST(ParsePidList, NamesFileAndToken) {
  try {
    parse_pid_list("12 1x3", "jobs.pid");
    ADD_FAILURE();
  } catch (const UsageError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("jobs.pid"), std::string::npos) << what;
    EXPECT_NE(what.find("'1x3'"), std::string::npos) << what;
  }
}

class PidfileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& content) {
    path_ = ::testing::TempDir() + "pwait_pidfile_" + std::to_string(getpid());
    std::ofstream(path_, std::ios::binary) << content;
    return path_;
  }
  void TearDown() override {
    if (!path_.empty()) unlink(path_.c_str());
  }
  std::string path_;
};

TEST_F(PidfileTest, ReadsPids) { EXPECT_EQ(read_pidfile(write("5\n6 7\n")), (std::vector<pid_t>{5, 6, 7})); }

TEST_F(PidfileTest, RejectsBinary) {
  std::string p = write(std::string("12\0\x7f" "ELF", 7));
  try {
    read_pidfile(p);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
}

TEST_F(PidfileTest, RejectsMissingAndDirectory) {
  EXPECT_THROW(read_pidfile("/nonexistent/pwait.pid"), UsageError);
  EXPECT_THROW(read_pidfile("/"), UsageError);
}

TEST(ParseOptions, Defaults) {
  auto r = parse({"12", "12", "13"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->pids, (std::vector<pid_t>{12, 13}));  // duplicates count once
  EXPECT_EQ(r.options->count, 0u);
  EXPECT_EQ(r.options->backend, "auto");
  EXPECT_FALSE(r.options->timeout);
}

TEST(ParseOptions, AllOptions) {
  auto r = parse({"-o", "-r", "-e", "-t", "1.5s", "-b", "poll", "--interval", "20ms", "-v", "-x", "1", "2"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->count, 1u);
  EXPECT_TRUE(r.options->reaped);
  EXPECT_TRUE(r.options->exited_ok);
  EXPECT_EQ(r.options->timeout, Duration(1500ms));
  EXPECT_EQ(r.options->backend, "poll");
  EXPECT_EQ(r.options->interval, Duration(20ms));
  EXPECT_TRUE(r.options->verbose);
  EXPECT_TRUE(r.options->exit_status);
}

// PIDs are told from option values before CLI11 parses, by CLI11's rules.
TEST(ParseOptions, PidsAmongOptionValues) {
  struct Case {
    std::vector<std::string> args;
    std::vector<pid_t> pids;
    std::optional<Duration> timeout;
  };
  std::vector<Case> cases = {
      {{"-t", "5", "7"}, {7}, 5s},
      {{"7", "-t", "5"}, {7}, 5s},
      {{"-t5", "7"}, {7}, 5s},
      {{"--timeout", "5", "7"}, {7}, 5s},
      {{"--timeout=5", "7"}, {7}, 5s},
      {{"-rt", "5", "7"}, {7}, 5s},       // a cluster ending in an option with a value
      {{"-rt5", "7"}, {7}, 5s},
      {{"-v", "7", "8"}, {7, 8}, std::nullopt},  // a flag takes no value
      {{"-c", "1", "7", "8"}, {7, 8}, std::nullopt},
      {{"9", "-t", "5", "--", "7", "9", "8"}, {9, 7, 8}, 5s},  // after "--", PIDs; first occurrence kept
      {{"3", "1", "2", "1", "3"}, {3, 1, 2}, std::nullopt},
  };
  for (auto& c : cases) {
    auto r = parse(c.args);
    std::string shown;
    for (auto& a : c.args) shown += "[" + a + "]";
    ASSERT_TRUE(r.options) << shown;
    EXPECT_EQ(r.options->pids, c.pids) << shown;
    EXPECT_EQ(r.options->timeout, c.timeout) << shown;
  }
  for (std::string odd : {"---", "-!", "- 5"}) {  // not options to CLI11: bad PIDs
    std::string error = error_of({odd});
    EXPECT_NE(error.find("invalid PID '" + odd + "'"), std::string::npos) << error;
  }
  EXPECT_NE(error_of({"--timeout=", "5", "7"}), "");  // "=" ends the option: no value taken from "5"
  std::string negative = error_of({"-5"});  // a bad PID, named as such, not an unknown option
  EXPECT_NE(negative.find("invalid PID '-5'"), std::string::npos) << negative;
  auto pidfile_then_pid = parse({"-F", "/dev/null", "7"});  // -F takes one value
  ASSERT_TRUE(pidfile_then_pid.options);
  EXPECT_EQ(pidfile_then_pid.options->pids, std::vector<pid_t>{7});
  std::string after_dashes = error_of({"--", "-5"});
  EXPECT_NE(after_dashes.find("'-5'"), std::string::npos) << after_dashes;
}

TEST(ParseOptions, CountRange) {
  EXPECT_EQ(parse({"-c", "2", "1", "2", "3"}).options->count, 2u);
  for (std::string bad : {"0", "4", "x", "-1", ""}) EXPECT_NE(error_of({"-c", bad, "1", "2", "3"}), "") << bad;
}

TEST(ParseOptions, BackendFromEnvironmentAndOverride) {
  EXPECT_EQ(parse({"1"}, "poll").options->backend, "poll");
  EXPECT_EQ(parse({"-b", "pidfd", "1"}, "poll").options->backend, "pidfd");
  std::string error = error_of({"1"}, "bogus");
  EXPECT_NE(error.find("'bogus'"), std::string::npos) << error;
  EXPECT_NE(error.find("PWAIT_BACKEND"), std::string::npos) << error;
}

TEST(ParseOptions, UsageErrorsAreOneLineWithExitCode2) {
  std::vector<std::vector<std::string>> cases = {
      {}, {""}, {"abc"}, {"0"}, {"12abc"}, {"99999999999"}, {"1.5"}, {"-t", "5x", "1"},
      {"--bogus", "1"}, {"-t"}, {"-F"}, {"-F", "/nonexistent", "1"}, {"-o", "-c", "1", "1"},
      {"--interval", "0", "1"}, {"-v", "-j", "1"}, {"-b", "nope", "1"}};
  for (auto& args : cases) {
    std::string shown;
    for (auto& a : args) shown += "[" + a + "]";
    std::string error = error_of(args);
    EXPECT_EQ(error.rfind("pwait: ", 0), 0u) << shown << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << shown << error;
  }
}

TEST(ParseOptions, HelpAndVersion) {
  auto h = parse({"--help"});
  EXPECT_FALSE(h.options);
  EXPECT_NE(h.output.find("Usage: pwait"), std::string::npos);
  auto v = parse({"-V"});
  EXPECT_FALSE(v.options);
  EXPECT_EQ(v.output.rfind("pwait ", 0), 0u);
}

}  // namespace
}  // namespace pwait
