# cmake -DIN=man/pwait.1 -DOUT=build/pwait.1 -DVERSION=X.Y.Z -P packaging/manpage.cmake
# The installed man page: man/pwait.1 with its .Os line naming this version,
# so that the footer says "pwait X.Y.Z" like --version. man/pwait.1 keeps a
# bare .Os and reads in place with `man ./man/pwait.1`.
file(READ "${IN}" text)
string(REGEX MATCHALL "(^|\n)\\.Os[^\n]*" os_lines "${text}")
list(LENGTH os_lines n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "${IN}: expected one .Os line to carry the version, found ${n}")
endif()
string(REGEX REPLACE "(^|\n)\\.Os[^\n]*" "\\1.Os pwait ${VERSION}" text "${text}")
file(WRITE "${OUT}" "${text}")
