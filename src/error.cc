#include "pwait/error.h"

#include <cerrno>
#include <string>
#include <system_error>

namespace pwait {

void throw_error(int err, std::string_view call, std::string_view object) {
  std::string what(call);
  if (!object.empty()) {
    what += ' ';
    what += object;
  }
  throw std::system_error(err, std::generic_category(), what);
}

void throw_errno(std::string_view call, std::string_view object) {
  throw_error(errno, call, object);
}

}  // namespace pwait
