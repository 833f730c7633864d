# Install rules and the Debian package (CPack, DEB generator), included at the end of the
# top-level CMakeLists.txt:
#
#   cmake --build build --target mptd mpt && cmake --build build --target package
#     -> build/mpt_<version>_<arch>.deb
#
# Contents (paths in the package; `cmake --install` puts the relative ones under
# CMAKE_INSTALL_PREFIX):
#   /usr/sbin/mptd, /usr/bin/mpt
#   /lib/systemd/system/mptd@.service          (MPT_SYSTEMD_UNIT_DIR)
#   /usr/share/man/man8/mptd.8.gz, mpt.8.gz, /usr/share/man/man5/mpt.conf.5.gz
#   /usr/share/doc/mpt/README.md, *.md (docs/), examples/
#   /usr/share/bash-completion/completions/mpt  (when packaging/mpt.bash-completion exists)
#
# `package` (and `install`) do not build anything first (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY):
# they would otherwise build every target -- unit tests, fuzzers, tools -- to ship two
# programs. Build mptd and mpt first; an install of programs not built yet fails with
# "file INSTALL cannot find .../cli/mptd".

include(GNUInstallDirs)

set(MPT_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the systemd unit mptd@.service is installed (absolute: not under the prefix)")

# The programs. mptd is a system daemon (sbin); mpt is the administrator's client, in bin as
# wg is (`mpt genkey` needs no privileges).
install(TARGETS mptd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS mpt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES ${PROJECT_SOURCE_DIR}/packaging/mptd@.service
        DESTINATION ${MPT_SYSTEMD_UNIT_DIR})

# Man pages, gzipped at install time (always from the current source; -n: no name and no
# time stamp in the .gz, so the same page gives the same bytes).
set(_mpt_man_pages mptd.8 mpt.8 mpt.conf.5)
foreach(page IN LISTS _mpt_man_pages)
  string(REGEX MATCH "[0-9]$" section "${page}")
  install(CODE "
    set(_gz \"${PROJECT_BINARY_DIR}/man/${page}.gz\")
    file(MAKE_DIRECTORY \"${PROJECT_BINARY_DIR}/man\")
    execute_process(COMMAND gzip -9nc \"${PROJECT_SOURCE_DIR}/docs/man/${page}\"
                    OUTPUT_FILE \"\${_gz}\" RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR \"gzip of docs/man/${page} failed: \${_rc}\")
    endif()
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man${section}\"
         TYPE FILE FILES \"\${_gz}\")
  ")
endforeach()

# Documentation and example configurations (CMAKE_INSTALL_DOCDIR = share/doc/mpt).
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "man" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Bash completion for mpt, when packaging/mpt.bash-completion exists (checked at install
# time, so a file added later ships without a reconfigure).
install(CODE "
  if(EXISTS \"${PROJECT_SOURCE_DIR}/packaging/mpt.bash-completion\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/bash-completion/completions\"
         TYPE FILE RENAME mpt FILES \"${PROJECT_SOURCE_DIR}/packaging/mpt.bash-completion\")
  endif()
")

set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# The package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mpt)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "mpt")
set(CPACK_PACKAGE_CONTACT "mpt maintainers <mpt-maintainers@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "multipath GRE-in-UDP tunnel daemon (MPT compatible)")
# The long description (CPack puts the summary above it, indents it and turns the empty
# line into " .").
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "mptd creates one tunnel interface (a TUN device) over one or more physical
paths and carries its packets as GRE-in-UDP (RFC 8086, UDP port 4754): an
adaptive earliest-arrival scheduler, in-order delivery, millisecond failover,
loss repair, a pre-shared-key handshake with AES-256-GCM or ChaCha20-Poly1305
sealing, clients behind NAT, and a server mode for many clients. It reads the
configuration layout of the original MPT (Multi-Path Tunnel).

mpt is its control program; mptd@.service runs the tunnel configured in
/etc/mpt/NAME.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # mpt_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from dpkg-shlibdeps (dpkg-dev; CPack also needs `file`): on Debian 12
# liburing2, libssl3, libboost-program-options1.74.0, libmnl0, libsystemd0 (sd_notify),
# libstdc++6, libc6, libgcc-s1.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Nothing from the build trees in `package_source`.
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")

include(CPack)
