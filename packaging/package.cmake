# `cpack -G DEB` in the build directory makes pwait_VERSION_ARCH.deb: what
# `cmake --install --strip` installs with the prefix /usr, plus the files
# Debian wants of every package (component "debian", which a plain
# `cmake --install` leaves out).

# A real package needs a real address: cmake -DCPACK_PACKAGE_CONTACT="Name <mail>".
set(CPACK_PACKAGE_CONTACT "The pwait developers <pwait@example.org>" CACHE STRING
    "Maintainer of the Debian package")

# /usr/share/doc/pwait/copyright in Debian's machine-readable format, from
# LICENSE (MIT, which Debian calls Expat).
file(READ ${CMAKE_SOURCE_DIR}/LICENSE license)
if(NOT license MATCHES "Copyright \\(c\\) ([^\n]+)\n\n(.*[^\n])\n*$")
  message(FATAL_ERROR "LICENSE: no \"Copyright (c) ...\" line followed by the license text")
endif()
set(copyright_holders "${CMAKE_MATCH_1}")
string(REGEX REPLACE "\n\n" "\n.\n" license_text "${CMAKE_MATCH_2}")
string(REGEX REPLACE "\n" "\n " license_text " ${license_text}")
configure_file(packaging/copyright.in copyright @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT debian EXCLUDE_FROM_ALL)

# /usr/share/doc/pwait/changelog.gz, which lintian wants of a native package.
# Its date honours SOURCE_DATE_EPOCH, for reproducible packages.
string(TIMESTAMP changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(packaging/changelog.in changelog @ONLY)
add_custom_command(OUTPUT changelog.gz COMMAND ${GZIP} -9nkf changelog DEPENDS ${CMAKE_BINARY_DIR}/changelog VERBATIM)
add_custom_target(debian_changelog ALL DEPENDS changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT debian EXCLUDE_FROM_ALL)

# The release binary is static (see CMakeLists.txt); lintian would call that a
# bug unless told why it is not.
install(FILES packaging/lintian-overrides RENAME pwait DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        COMPONENT debian EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME pwait)
set(CPACK_PACKAGE_VENDOR "The pwait developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "wait for any process to end and say how it ended")
set(CPACK_PACKAGE_DESCRIPTION [[
pwait waits until processes end, whether or not they are its children, and
can report how each ended: its exit status, or the signal that killed it.
It waits for all, any or N of many targets, with a timeout, and tells a
zombie (exited) from a reaped process. It picks a kernel mechanism at run
time: pidfd, the proc connector, ptrace or polling.]])
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
# Everything installs under /usr with DESTDIR, so install code sees the
# package's prefix (the zsh completion's directory depends on it).
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};pwait;ALL;/" "${CMAKE_BINARY_DIR};pwait;debian;/")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from dpkg-shlibdeps: empty for the static release binary, which
# needs no shared library; a dynamically linked pwait would get its libraries'.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
