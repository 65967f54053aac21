// The shell completions in completions/, run by the shells themselves: bash
// through its completion function, zsh by pressing Tab on a pty
// (tests/zsh-complete), fish through `complete -C`. Every option that the
// built binary's --help lists must be offered by each; and `cmake --install`
// must put each completion where its shell looks.

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "pwait/backend.h"
#include "testlib.h"

namespace pwait {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Command;
using testing::Result;
using Lines = std::vector<std::string>;

const std::string kSource = PWAIT_SOURCE_DIR;

std::string file_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Lines lines_of(const std::string& text) {
  Lines out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// The word of each candidate line, without its description.
std::set<std::string> words_of(const Lines& lines) {
  std::set<std::string> out;
  for (const auto& l : lines) out.insert(l.substr(0, l.find_first_of(" \t")));
  return out;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The absolute path of a program on PATH, or "" if there is none.
std::string program(const std::string& name) {
  std::istringstream path(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  for (std::string dir; std::getline(path, dir, ':');) {
    std::string p = dir + "/" + name;
    if (!dir.empty() && access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Every option name (-F, --pidfile, ...) that `pwait --help` lists.
std::vector<std::string> help_options() {
  Result r = testing::run_pwait({"--help"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> names;
  std::regex option_line(R"(^ +(-\w)?(?:, +)?(--[\w-]+)?[ =])");
  for (const auto& line : lines_of(r.out)) {
    std::smatch m;
    if (!std::regex_search(line, m, option_line)) continue;
    for (int i : {1, 2})
      if (m[i].matched) names.push_back(m[i]);
  }
  return names;
}

std::set<std::string> backend_names() {
  std::set<std::string> names{"auto"};
  for (const Backend& b : backends()) names.emplace(b.name);
  return names;
}

std::set<std::string> starting_with(const std::set<std::string>& all, const std::string& prefix) {
  std::set<std::string> out;
  for (const auto& s : all)
    if (s.rfind(prefix, 0) == 0) out.insert(s);
  return out;
}

bool all_pids(const std::set<std::string>& words) {
  return std::all_of(words.begin(), words.end(), [](const std::string& w) {
    return !w.empty() && w.find_first_not_of("0123456789") == std::string::npos;
  });
}

// A target with a process name of its own, to look for among the PIDs.
constexpr const char* kTargetName = "pwait-cmpl-tgt";
int named_target(int in, int out) {
  prctl(PR_SET_NAME, kTargetName);
  if (write(out, "ready\n", 6) != 6) return 99;
  return testing::exit_on_command(in, out);
}

// A directory removed at the end of the test.
struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pwait-completion-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

TEST(CompletionHelp, ParsesEveryOptionOfHelp) {
  // The completion tests below are only as good as this list.
  auto names = help_options();
  for (const char* opt : {"-F", "--pidfile", "-b", "--backend", "--list-backends", "--interval", "-V", "--version"})
    EXPECT_NE(std::find(names.begin(), names.end(), opt), names.end()) << opt;
  EXPECT_GE(names.size(), 26u);
}

// Each completion file names every option of --help, whether or not its shell
// is installed here; the shells' own tests below check that they offer them.
TEST(CompletionFiles, EachNamesEveryOptionOfHelp) {
  std::string bash = file_text(kSource + "/completions/pwait.bash");
  std::string zsh = file_text(kSource + "/completions/_pwait");
  std::string fish = file_text(kSource + "/completions/pwait.fish");
  ASSERT_FALSE(bash.empty() || zsh.empty() || fish.empty());
  for (const auto& opt : help_options()) {
    bool is_long = opt.rfind("--", 0) == 0;
    // bash: '-F|--pidfile|file|...'; zsh: {-F+,--pidfile=}'[...]' or '*--cgroup=[...]'; fish: -s F -l pidfile
    EXPECT_TRUE(std::regex_search(bash, std::regex("['|]" + opt + "\\|"))) << opt << " not in pwait.bash";
    EXPECT_TRUE(std::regex_search(zsh, std::regex("[{,)*']" + opt + "[+=]?[,}\\[]"))) << opt << " not in _pwait";
    std::string fish_spec = is_long ? " -l " + opt.substr(2) + " " : " -s " + opt.substr(1) + " ";
    EXPECT_NE(fish.find(fish_spec), std::string::npos) << opt << " not in pwait.fish";
  }
}

// ---------------------------------------------------------------- bash

// What completions/pwait.bash offers for the last of `words`, run in a bash
// of its own: one line per candidate, "word  (description)" when listed.
Lines bash_complete(const std::vector<std::string>& words, int comp_type = '\t') {
  std::string array;
  for (const auto& w : words) array += quoted(w) + " ";
  std::string script = "source " + quoted(kSource + "/completions/pwait.bash") + " || exit 3\n" +
                       "COMP_WORDS=(" + array + ")\n" + "COMP_CWORD=" + std::to_string(words.size() - 1) +
                       "\nCOMP_TYPE=" + std::to_string(comp_type) + " COLUMNS=300\n" +
                       "_pwait\n"
                       "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  Result r = Command({"/bin/bash", "--norc", "--noprofile", "-c", script}).wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  return lines_of(r.out);
}

TEST(CompletionBash, OffersEveryOptionOfHelpWithItsDescription) {
  Lines lines = bash_complete({"pwait", "-"});
  std::set<std::string> words = words_of(lines);
  for (const auto& opt : help_options()) EXPECT_TRUE(words.count(opt)) << opt;
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, std::regex(R"(-\S+ +\(\w.*\))"))) << line;
}

TEST(CompletionBash, InsertsALoneCandidateWithoutItsDescription) {
  EXPECT_EQ(bash_complete({"pwait", "--list-b"}), Lines{"--list-backends"});
  // menu-complete ('%') inserts each candidate in turn: no descriptions.
  EXPECT_EQ(bash_complete({"pwait", "--ex"}, '%'), (Lines{"--exact", "--exited", "--exit-status"}));
}

TEST(CompletionBash, CompletesBackendNames) {
  for (auto words : std::vector<std::vector<std::string>>{
           {"pwait", "-b", ""}, {"pwait", "--backend", ""}, {"pwait", "-rb", ""}, {"pwait", "--backend", "=", ""}})
    EXPECT_EQ(words_of(bash_complete(words)), backend_names()) << words[1];
  EXPECT_EQ(words_of(bash_complete({"pwait", "--backend", "=", "p"})), starting_with(backend_names(), "p"));
  // A value attached to its option leaves nothing for the next word to be.
  EXPECT_TRUE(all_pids(words_of(bash_complete({"pwait", "-bpoll", ""}))));
}

TEST(CompletionBash, CompletesFileNamesForPidfile) {
  TempDir dir;
  std::ofstream(dir.path / "jobs.pid") << "1\n";
  std::ofstream(dir.path / "other.pid") << "1\n";
  std::string d = dir.path.string();
  EXPECT_EQ(bash_complete({"pwait", "-F", d + "/j"}), Lines{d + "/jobs.pid"});
  EXPECT_EQ(words_of(bash_complete({"pwait", "-o", "--pidfile", "=", d + "/"})),
            (std::set<std::string>{d + "/jobs.pid", d + "/other.pid"}));
}

TEST(CompletionBash, CompletesPidsWithTheirProcessNames) {
  testing::Target target(named_target);
  ASSERT_EQ(target.read_line(), "ready");
  std::string pid = std::to_string(target.pid());
  Lines lines = bash_complete({"pwait", "-v", ""});
  ASSERT_GT(lines.size(), 1u);
  EXPECT_TRUE(all_pids(words_of(lines)));
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [&](const std::string& l) {
                           return std::regex_match(l, std::regex(pid + " +\\(" + kTargetName + "\\)"));
                         }),
            lines.end());
  Lines by_prefix = bash_complete({"pwait", pid});
  EXPECT_TRUE(words_of(by_prefix).count(pid));
  for (const auto& w : words_of(by_prefix)) EXPECT_EQ(w.rfind(pid, 0), 0u) << w;
}

TEST(CompletionBash, OffersNothingForNumbersAndDurations) {
  EXPECT_EQ(bash_complete({"pwait", "-t", ""}), Lines{});
  EXPECT_EQ(bash_complete({"pwait", "--count", ""}), Lines{});
  EXPECT_EQ(bash_complete({"pwait", "--interval", "=", ""}), Lines{});
}

TEST(CompletionBash, EverythingAfterDashDashIsAPid) {
  EXPECT_EQ(bash_complete({"pwait", "--", "-"}), Lines{});
  Lines pids = bash_complete({"pwait", "--", ""});
  EXPECT_FALSE(pids.empty());
  EXPECT_TRUE(all_pids(words_of(pids)));
  // "-b" is the value of -F here (a file named -b), not an option.
  EXPECT_TRUE(all_pids(words_of(bash_complete({"pwait", "-F", "-b", ""}))));
}

TEST(CompletionBash, SignalCompleterListsSignalNames) {
  // Ready for an option that takes a signal: none does yet.
  std::string script = "source " + quoted(kSource + "/completions/pwait.bash") +
                       "\ncur=TE _pwait_values signal; _pwait_reply\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
  Result r = Command({"/bin/bash", "--norc", "--noprofile", "-c", script}).wait();
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(words_of(lines_of(r.out)), std::set<std::string>{"TERM"});
}

// ---------------------------------------------------------------- zsh

// What _pwait offers at the end of `line`, as "word -- description" lines,
// from Tab in an interactive zsh with completions/ first in $fpath.
Lines zsh_complete(const std::string& line) {
  Result r = Command({program("zsh"), kSource + "/tests/zsh-complete", kSource + "/completions", line}).wait(30s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  return lines_of(r.out);
}

class CompletionZsh : public ::testing::Test {
 protected:
  void SetUp() override {
    if (program("zsh").empty()) GTEST_SKIP() << "zsh is not installed (.ci/run installs it)";
  }
};

TEST_F(CompletionZsh, OffersEveryOptionOfHelpWithItsDescription) {
  Lines lines = zsh_complete("pwait -");
  std::set<std::string> words = words_of(lines);
  for (const auto& opt : help_options()) EXPECT_TRUE(words.count(opt)) << opt;
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, std::regex(R"(-\S+ -- \w.*)"))) << line;
}

TEST_F(CompletionZsh, CompletesBackendNames) {
  EXPECT_EQ(words_of(zsh_complete("pwait -b ")), backend_names());
  EXPECT_EQ(words_of(zsh_complete("pwait -rb ")), backend_names());
  EXPECT_EQ(words_of(zsh_complete("pwait --backend=p")), starting_with(backend_names(), "p"));
}

TEST_F(CompletionZsh, CompletesFileNamesForPidfile) {
  TempDir dir;
  std::ofstream(dir.path / "jobs.pid") << "1\n";
  EXPECT_EQ(words_of(zsh_complete("pwait -F " + dir.path.string() + "/")), std::set<std::string>{"jobs.pid"});
}

TEST_F(CompletionZsh, CompletesPidsWithTheirProcessNames) {
  testing::Target target(named_target);
  ASSERT_EQ(target.read_line(), "ready");
  Lines lines = zsh_complete("pwait -v ");
  EXPECT_TRUE(all_pids(words_of(lines)));
  EXPECT_NE(std::find(lines.begin(), lines.end(), std::to_string(target.pid()) + " -- " + kTargetName), lines.end());
}

TEST_F(CompletionZsh, OffersNothingForDurations) {
  EXPECT_EQ(zsh_complete("pwait -t "), Lines{});
}

TEST_F(CompletionZsh, ComesBeforeZshsOwnPwaitCompletion) {
  // zsh's _pids claims "pwait" (Solaris's proc tool): ours must win where it is installed.
  std::string script = "fpath=(" + quoted(kSource + "/completions") +
                       " $fpath); autoload -Uz compinit && compinit -u -D && print -r -- $_comps[pwait]";
  Result r = Command({program("zsh"), "-fc", script}).wait();
  EXPECT_EQ(r.out, "_pwait\n") << r.err;
}

// ---------------------------------------------------------------- fish

// Runs a fish script with a home of its own (no user configuration) and the
// built pwait on PATH: fish completes the arguments only of commands it finds.
Result fish(const std::string& script) {
  TempDir home;
  std::string bin = fs::path(testing::pwait_binary()).parent_path().string();
  Command::Setup setup;
  setup.env = {"HOME=" + home.path.string(), "XDG_CONFIG_HOME=" + home.path.string(),
               "XDG_DATA_HOME=" + home.path.string(), "PATH=" + bin + ":" + getenv("PATH")};
  Result r = Command({program("fish"), "-c", script}, setup).wait(30s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  return r;
}

// What fish offers for `line`, as "word<TAB>description" lines, with
// completions/ first in $fish_complete_path.
Lines fish_complete(const std::string& line) {
  return lines_of(fish("set -p fish_complete_path " + quoted(kSource + "/completions") + "; complete -C " +
                       quoted(line)).out);
}

class CompletionFish : public ::testing::Test {
 protected:
  void SetUp() override {
    if (program("fish").empty()) GTEST_SKIP() << "fish is not installed (.ci/run installs it)";
  }
};

TEST_F(CompletionFish, OffersEveryOptionOfHelpWithItsDescription) {
  Lines lines = fish_complete("pwait -");
  std::set<std::string> words = words_of(lines);
  for (const auto& opt : help_options()) EXPECT_TRUE(words.count(opt)) << opt;
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, std::regex("-\\S+\t\\w.*"))) << line;
}

TEST_F(CompletionFish, CompletesBackendNames) {
  EXPECT_EQ(words_of(fish_complete("pwait -b ")), backend_names());
  std::set<std::string> with_option;
  for (const auto& b : starting_with(backend_names(), "p")) with_option.insert("--backend=" + b);
  EXPECT_EQ(words_of(fish_complete("pwait --backend=p")), with_option);
}

TEST_F(CompletionFish, CompletesFileNamesForPidfile) {
  TempDir dir;
  std::ofstream(dir.path / "jobs.pid") << "1\n";
  std::string d = dir.path.string() + "/";
  EXPECT_EQ(words_of(fish_complete("pwait -F " + d)), std::set<std::string>{d + "jobs.pid"});
}

TEST_F(CompletionFish, CompletesPidsWithTheirProcessNames) {
  testing::Target target(named_target);
  ASSERT_EQ(target.read_line(), "ready");
  Lines lines = fish_complete("pwait -v ");
  EXPECT_TRUE(all_pids(words_of(lines)));
  std::string pid = std::to_string(target.pid());
  // fish adds the terminal, if the process has one: "1234<TAB>name [pts/0]".
  std::regex expected(pid + "\t" + kTargetName + "( \\[.*\\])?");
  EXPECT_NE(std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_match(l, expected); }),
            lines.end());
}

TEST_F(CompletionFish, OffersNothingForDurations) {
  EXPECT_EQ(fish_complete("pwait -t "), Lines{});
}

TEST_F(CompletionFish, SignalCompleterListsSignalNames) {
  // Ready for an option that takes a signal: none does yet.
  Lines lines = lines_of(fish("source " + quoted(kSource + "/completions/pwait.fish") + "; __pwait_signals").out);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "TERM\t15"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "KILL\t9"), lines.end());
}

// ---------------------------------------------------------------- install

// `cmake --install` of this build tree into a fresh prefix, with DESTDIR.
class CompletionInstall : public ::testing::Test {
 protected:
  void install(const std::string& prefix) {
    Command::Setup setup;
    setup.env = {"DESTDIR=" + root_.path.string()};
    Result r = Command({PWAIT_CMAKE_COMMAND, "--install", PWAIT_BUILD_DIR, "--prefix", prefix}, setup).wait(60s);
    ASSERT_EQ(r.exit_code(), 0) << r.out << r.err;
  }
  std::string in_root(const std::string& path) { return root_.path.string() + path; }
  TempDir root_;
};

TEST_F(CompletionInstall, PutsEachWhereItsShellLooksUnderThePrefix) {
  const std::string prefix = "/opt/pwait-test";
  ASSERT_NO_FATAL_FAILURE(install(prefix));
  std::string share = in_root(prefix + "/share");
  EXPECT_TRUE(fs::exists(share + "/bash-completion/completions/pwait"));
  EXPECT_TRUE(fs::exists(share + "/zsh/site-functions/_pwait"));
  EXPECT_FALSE(fs::exists(share + "/zsh/vendor-completions"));
  EXPECT_TRUE(fs::exists(share + "/fish/vendor_completions.d/pwait.fish"));
  // The Debian-only files come with the package, not with cmake --install.
  EXPECT_FALSE(fs::exists(share + "/doc"));
  EXPECT_FALSE(fs::exists(share + "/lintian"));

  const char* bash_completion = "/usr/share/bash-completion/bash_completion";
  if (fs::exists(bash_completion)) {
    // bash-completion loads completions on demand from $XDG_DATA_DIRS/bash-completion/completions.
    Command::Setup setup;
    setup.env = {"XDG_DATA_DIRS=" + share};
    Result r = Command({"/bin/bash", "--norc", "--noprofile", "-c",
                        std::string("source ") + bash_completion + "; __load_completion pwait; complete -p pwait"},
                       setup)
                   .wait();
    EXPECT_EQ(r.out, "complete -F _pwait pwait\n") << r.err;
  }
}

TEST_F(CompletionInstall, PutsZshsInVendorCompletionsUnderUsr) {
  ASSERT_NO_FATAL_FAILURE(install("/usr"));
  EXPECT_TRUE(fs::exists(in_root("/usr/share/zsh/vendor-completions/_pwait")));
  EXPECT_FALSE(fs::exists(in_root("/usr/share/zsh/site-functions")));
  EXPECT_TRUE(fs::exists(in_root("/usr/share/bash-completion/completions/pwait")));
  EXPECT_TRUE(fs::exists(in_root("/usr/share/fish/vendor_completions.d/pwait.fish")));
}

TEST_F(CompletionInstall, ManPageCarriesTheVersion) {
  ASSERT_NO_FATAL_FAILURE(install("/opt/pwait-test"));
  std::string gz = in_root("/opt/pwait-test/share/man/man1/pwait.1.gz");
  ASSERT_TRUE(fs::exists(gz));
  Result man = Command({program("gzip"), "-dc", gz}).wait();
  ASSERT_EQ(man.exit_code(), 0) << man.err;
  Result version = testing::run_pwait({"--version"});  // "pwait X.Y.Z\n"
  ASSERT_EQ(version.out.rfind("pwait ", 0), 0u);
  // man/pwait.1 with its .Os line naming the version, and nothing else changed.
  std::string expected = std::regex_replace(file_text(kSource + "/man/pwait.1"), std::regex(R"(\n\.Os[^\n]*\n)"),
                                            "\n.Os " + version.out);
  EXPECT_EQ(man.out, expected);
  EXPECT_NE(man.out.find("\n.Os " + version.out), std::string::npos);
}

}  // namespace
}  // namespace pwait
