# Manual pages: man/NAME.SECTION (roff sources, written by hand) are installed
# under share/man/manSECTION.  Included from the top-level CMakeLists.txt after
# the programs are defined: a program's page is installed only with the
# program, so a tree where one is not built yet installs no dangling page.
file(GLOB OSEC_MAN_PAGES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.[1-8])
foreach(page ${OSEC_MAN_PAGES})
  get_filename_component(ext ${page} LAST_EXT)
  get_filename_component(name ${page} NAME_WLE)
  string(SUBSTRING ${ext} 1 1 section)
  if(section MATCHES "^[18]$" AND DEFINED OSEC_PROGRAM_TARGETS
     AND NOT name IN_LIST OSEC_PROGRAM_TARGETS)
    continue()
  endif()
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
