# Install rules (GNU directories) and the Debian package (CPack).
#
#   cmake --preset package && cmake --build --preset package --target package
#
# builds build/package/echo-service_<version>_<arch>.deb. `cmake --install`
# puts the same files under CMAKE_INSTALL_PREFIX.

include(GNUInstallDirs)

# Debian 12 keeps units in /lib/systemd/system (what `pkg-config
# --variable=systemdsystemunitdir systemd` says there).
set(ECHO_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd units are installed")
option(ECHO_MAN_PAGES "Generate the man pages from --help with help2man" ON)

install(TARGETS echo-server echo-client RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# /etc/echo-server with prefix /usr (GNUInstallDirs maps /usr/etc to /etc).
install(FILES config/echo-server.conf DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/echo-server)

foreach(unit echo-server.service echo-server.socket)
  configure_file(config/systemd/${unit}.in ${PROJECT_BINARY_DIR}/systemd/${unit} @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/systemd/${unit} DESTINATION ${ECHO_SYSTEMD_UNIT_DIR})
endforeach()

# One completion for both programs, under each one's name (bash-completion
# loads a command's completion by its name).
foreach(program echo-server echo-client)
  install(FILES packaging/completions/echo-service.bash RENAME ${program}
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
endforeach()

# Man pages from the programs' own --help and --version, so they never
# drift from them; compressed as Debian wants (gzip -9n: reproducible).
if(ECHO_MAN_PAGES)
  find_program(HELP2MAN help2man REQUIRED)
  find_program(GZIP gzip REQUIRED)
  set(man_pages "")
  foreach(program echo-server echo-client)
    set(page ${PROJECT_BINARY_DIR}/man/${program}.1)
    add_custom_command(
      OUTPUT ${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1
              --include=${PROJECT_SOURCE_DIR}/packaging/${program}.h2m --output=${page} $<TARGET_FILE:${program}>
      COMMAND ${GZIP} -9nf ${page}
      DEPENDS ${program} ${PROJECT_SOURCE_DIR}/packaging/${program}.h2m
      COMMENT "Man page ${program}(1) from --help"
      VERBATIM)
    list(APPEND man_pages ${page}.gz)
  endforeach()
  add_custom_target(man_pages ALL DEPENDS ${man_pages})
  install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

# /usr/share/doc/echo-service: copyright and the changelog, compressed.
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/doc/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/doc
  COMMAND sh -c "gzip -9nc '${PROJECT_SOURCE_DIR}/packaging/debian/changelog' > '${PROJECT_BINARY_DIR}/doc/changelog.gz'"
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog
  VERBATIM)
add_custom_target(changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/doc/changelog.gz)
install(FILES packaging/debian/copyright ${PROJECT_BINARY_DIR}/doc/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${PROJECT_NAME})

# The Debian package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${PROJECT_NAME})
set(CPACK_PACKAGE_VENDOR "echo-service maintainers")
set(CPACK_PACKAGE_CONTACT "echo-service maintainers <maintainers@users.noreply.r-seed-f0d53cdc.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TCP and UDP echo service (RFC 862) with client and load generator")
# The extended description: CPack indents each line and turns the empty
# line into the " ." paragraph break; the synopsis is the summary above.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "echo-server echoes TCP and UDP on one port from one Boost.Asio io_context,
with limits against abusive clients, systemd socket activation and
readiness, and Prometheus metrics with health and readiness endpoints.

echo-client is its client: interactive, a pipe like nc, a health probe
(-m TEXT --check) and a load generator that verifies every byte.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # echo-service_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/echo-service/echo-service")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# `man echo-server` needs man-db, and the completion bash-completion; a
# minimal Debian has neither, and the programs work without them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "man-db, bash-completion")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
