# install_system_files.cmake — runs at install time (`make install`, `cmake --install`, and
# cpack, which installs with CMAKE_INSTALL_PREFIX=/usr into a staging DESTDIR). It installs
# the two files whose place and content depend on the prefix chosen *then*, not at configure
# time, so one build dir gives both a /usr/local install and a Debian package:
#
#   prefix /usr (the package):  /lib/systemd/system/claudemon.service, /etc/claudemon/claudemon.yml
#   any other prefix P:         P/lib/systemd/system/claudemon.service, P/etc/claudemon/claudemon.yml
#
# The unit's ExecStart names the installed binary and config: the source unit says
# /usr/bin/claudemon and /etc/claudemon/claudemon.yml (so it can be checked as it is), and
# those two paths are rewritten for any other layout. An existing config is never
# overwritten (a reinstall from source must not undo an operator's edits; dpkg handles its
# own conffile). Absolute CMAKE_INSTALL_{BINDIR,SYSCONFDIR} and CLAUDEMON_SYSTEMD_UNITDIR set
# at configure time win. Inputs (set by the top CMakeLists.txt before including this file):
# CLAUDEMON_SOURCE_DIR, CLAUDEMON_BINARY_DIR, CLAUDEMON_BINDIR, CLAUDEMON_SYSCONFDIR,
# CLAUDEMON_UNITDIR_OVERRIDE.

function(claudemon_full_dir out rel usr_default)
  if(IS_ABSOLUTE "${rel}")
    set(${out} "${rel}" PARENT_SCOPE)
  elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND usr_default)
    set(${out} "${usr_default}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${rel}" PARENT_SCOPE)
  endif()
endfunction()

claudemon_full_dir(bindir "${CLAUDEMON_BINDIR}" "")
claudemon_full_dir(sysconfdir "${CLAUDEMON_SYSCONFDIR}" "/etc")
if(CLAUDEMON_UNITDIR_OVERRIDE)
  set(unitdir "${CLAUDEMON_UNITDIR_OVERRIDE}")
else()
  # Debian 12 packages ship units in /lib/systemd/system; systemd also searches
  # /usr/local/lib/systemd/system, so a /usr/local install is found too.
  claudemon_full_dir(unitdir "lib/systemd/system" "/lib/systemd/system")
endif()

set(CLAUDEMON_EXEC "${bindir}/claudemon")
set(CLAUDEMON_CONFIG "${sysconfdir}/claudemon/claudemon.yml")
file(READ "${CLAUDEMON_SOURCE_DIR}/packaging/systemd/claudemon.service" unit)
string(REPLACE "/usr/bin/claudemon " "${CLAUDEMON_EXEC} " unit "${unit}")
string(REPLACE "/etc/claudemon/claudemon.yml" "${CLAUDEMON_CONFIG}" unit "${unit}")
set(staged "${CLAUDEMON_BINARY_DIR}/packaging/install/claudemon.service")
file(WRITE "${staged}" "${unit}")
set(mode OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL DESTINATION "${unitdir}" TYPE FILE PERMISSIONS ${mode} FILES "${staged}")

if(EXISTS "$ENV{DESTDIR}${CLAUDEMON_CONFIG}")
  message(STATUS "Keeping existing: $ENV{DESTDIR}${CLAUDEMON_CONFIG}")
else()
  file(INSTALL DESTINATION "${sysconfdir}/claudemon" TYPE FILE PERMISSIONS ${mode}
       FILES "${CLAUDEMON_SOURCE_DIR}/packaging/claudemon.yml")
endif()
