// Fuzz target: what pwait says. User input quoted in a message (shown()) is
// printable, quoted and bounded; a JSON string (json_string()) is valid JSON
// holding valid UTF-8; a JSON line with any status is one line.

#include <cctype>
#include <cstring>

#include "fuzz.h"
#include "pwait/report.h"

namespace {

// Whether `s` is valid UTF-8 (the same rules json_string() applies).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    if (n >= 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))
        return false;
    }
    i += n;
  }
  return true;
}

// Whether `s` is one JSON string: quoted, no raw control character, every
// escape well formed, no unescaped quote inside.
bool json_string_ok(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"') return false;
    if (c != '\\') continue;
    if (i + 2 >= s.size()) return false;
    char e = s[++i];
    if (e == 'u') {
      if (i + 4 >= s.size()) return false;
      for (int k = 1; k <= 4; ++k)
        if (!std::isxdigit(static_cast<unsigned char>(s[i + k]))) return false;
      i += 4;
    } else if (!std::strchr("\"\\/bfnrt", e)) {
      return false;
    }
  }
  return valid_utf8(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pwait;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string quoted = shown(text);
  fuzz::require(quoted.size() >= 2 && quoted.front() == '\'' && quoted.back() == '\'');
  fuzz::require_one_clean_line(quoted, 4 * 40 + 5);
  fuzz::require(json_string_ok(json_string(text)));
  if (size >= 4) {
    std::string text_copy(text);
    int status;
    std::memcpy(&status, data, sizeof status);
    std::string line = json_line("exited", {1234, &text_copy, 77}, status, true, 99, "pidfd", Duration(1));
    fuzz::require(line.find('\n') == std::string::npos);
    fuzz::require_one_clean_line(describe_status(status));
  }
  return 0;
}
