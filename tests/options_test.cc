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

// The PIDs the options name, in order.
std::vector<pid_t> pids_of(const Options& o) {
  std::vector<pid_t> pids;
  for (const Named& n : o.operands) pids.push_back(n.pid);
  return pids;
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
                          "inf", "nan", "9999999999h", "5sec", "100000001"}) {
    EXPECT_THROW(parse_duration(bad, "timeout"), UsageError) << "'" << bad << "'";
  }
  try {
    parse_duration("5x", "timeout");
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("timeout '5x'"), std::string::npos) << e.what();
  }
}

TEST(ParseOptions, Defaults) {
  auto r = parse({"12", "12", "13"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(pids_of(*r.options), (std::vector<pid_t>{12, 12, 13}));  // pinning drops duplicates
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
      {{"9", "-t", "5", "--", "7", "9", "8"}, {9, 7, 9, 8}, 5s},  // after "--", PIDs
      {{"3", "1", "2", "1", "3"}, {3, 1, 2, 1, 3}, std::nullopt},
  };
  for (auto& c : cases) {
    auto r = parse(c.args);
    std::string shown;
    for (auto& a : c.args) shown += "[" + a + "]";
    ASSERT_TRUE(r.options) << shown;
    EXPECT_EQ(pids_of(*r.options), c.pids) << shown;
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
  EXPECT_EQ(pids_of(*pidfile_then_pid.options), std::vector<pid_t>{7});
  std::string after_dashes = error_of({"--", "-5"});
  EXPECT_NE(after_dashes.find("'-5'"), std::string::npos) << after_dashes;
}

TEST(ParseOptions, CountRange) {
  EXPECT_EQ(parse({"-c", "2", "1", "2", "3"}).options->count, 2u);
  // (More than there are targets is known only once pidfiles are read: run() refuses it.)
  for (std::string bad : {"0", "x", "-1", ""}) EXPECT_NE(error_of({"-c", bad, "1", "2", "3"}), "") << bad;
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
      {"--bogus", "1"}, {"-t"}, {"-F"}, {"-o", "-c", "1", "1"}, {"-b", "poll", "--interval", "0", "1"},
      {"--interval", "5ms", "1"}, {"-v", "-j", "1"}, {"-b", "nope", "1"}, {"--any=1", "1"}, {"-q", "1"},
      {"2147483648"}, {"1:0"}, {"1:x"}};
  for (auto& args : cases) {
    std::string shown;
    for (auto& a : args) shown += "[" + a + "]";
    std::string error = error_of(args);
    EXPECT_EQ(error.rfind("pwait: ", 0), 0u) << shown << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << shown << error;
  }
}

// No parser library's words reach the user: pwait's, naming the option, and one hint.
TEST(ParseOptions, OptionErrorsInPwaitsOwnWords) {
  EXPECT_EQ(error_of({"--bogus", "1"}), "pwait: unknown option '--bogus' (see 'pwait --help')");
  EXPECT_EQ(error_of({"-q", "1"}), "pwait: unknown option '-q' (see 'pwait --help')");
  EXPECT_EQ(error_of({"-vq", "1"}), "pwait: unknown option '-q' (see 'pwait --help')");
  EXPECT_EQ(error_of({"1", "--timeout"}), "pwait: option --timeout needs a value (see 'pwait --help')");
  EXPECT_EQ(error_of({"1", "-rt"}), "pwait: option -t needs a value (see 'pwait --help')");
  EXPECT_EQ(error_of({"--any=1", "1"}), "pwait: option --any takes no value (see 'pwait --help')");
  EXPECT_EQ(error_of({"-b", "nope", "1"}), "pwait: unknown backend 'nope' (try --list-backends)");
  // Escaped and bounded, whatever the bytes.
  std::string escape = error_of({"--x\x1b[31mred", "1"});
  EXPECT_EQ(escape, "pwait: unknown option '--x\\x1b[31mred' (see 'pwait --help')");
  std::string newline = error_of({"--a\nb", "1"});
  EXPECT_EQ(newline.find('\n'), std::string::npos) << newline;
  std::string huge = error_of({"--" + std::string(100000, 'y'), "1"});
  EXPECT_LT(huge.size(), 120u);
  EXPECT_EQ(error_of({"-t", "1", "-t", "2", "1"}), "") << "an option given twice: the last counts";
}

TEST(ParseOptions, TimeoutZeroIsNone) {
  EXPECT_FALSE(parse({"-t", "0", "1"}).options->timeout);
  EXPECT_FALSE(parse({"-t", "0ms", "1"}).options->timeout);
  EXPECT_EQ(parse({"-t", "1d", "1"}).options->timeout, Duration(86400s));
  EXPECT_EQ(parse({"-t", "100000000", "1"}).options->timeout, Duration(100000000s));
  std::string over = error_of({"-t", "100000001", "1"});
  EXPECT_NE(over.find("invalid timeout '100000001': longer than 100000000s"), std::string::npos) << over;
}

TEST(ParseOptions, PidsThatCannotExistAreNotUsageErrors) {
  EXPECT_EQ(pids_of(*parse({std::to_string(pid_max()), std::to_string(pid_max() + 1)}).options),
            (std::vector<pid_t>{pid_max(), pid_max() + 1}));
  EXPECT_EQ(pids_of(*parse({"2147483647"}).options), std::vector<pid_t>{2147483647});
  EXPECT_NE(error_of({"2147483648"}).find("beyond the largest process ID"), std::string::npos);
  EXPECT_NE(error_of({"0"}).find("invalid PID '0': process IDs start at 1"), std::string::npos);
}

TEST(ParseOptions, OptionsThatWouldDoNothingAreRefused) {
  EXPECT_NE(error_of({"--interval", "5ms", "1"}).find("--interval sets the poll backend's interval"), std::string::npos);
  EXPECT_EQ(parse({"-b", "poll", "--interval", "5ms", "1"}).options->interval, Duration(5ms));
  EXPECT_EQ(parse({"--interval", "5ms", "1"}, "poll").options->interval, Duration(5ms));
  EXPECT_NE(error_of({}).find("no target given"), std::string::npos);
  EXPECT_TRUE(parse({"-F", "/dev/null"}).options) << "an empty pidfile is not a usage error";
  auto list = parse({"--list-backends", "1", "2"});
  ASSERT_TRUE(list.options);
  EXPECT_TRUE(list.options->list_backends);
  EXPECT_EQ(pids_of(*list.options), (std::vector<pid_t>{1, 2}));
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
