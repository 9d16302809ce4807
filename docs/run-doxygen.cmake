# run-doxygen.cmake - runs Doxygen on docs/Doxyfile, prints its warnings and
# fails when there are any and WERROR is on. Called by the `docs` target:
#   cmake -DDOXYGEN=... -DSRC=<repo> -DOUT=<dir> -DWERROR=ON -P run-doxygen.cmake
file(MAKE_DIRECTORY ${OUT})
set(log ${OUT}/doxygen-warnings.log)
file(REMOVE ${log})
set(ENV{TP_SOURCE_DIR} ${SRC})
set(ENV{TP_DOXYGEN_OUT} ${OUT})
execute_process(COMMAND ${DOXYGEN} ${SRC}/docs/Doxyfile
  WORKING_DIRECTORY ${SRC} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen failed (exit ${rc})")
endif()
set(warnings "")
if(EXISTS ${log})
  file(READ ${log} warnings)
endif()
if(warnings STREQUAL "")
  message(STATUS "Doxygen: no warnings; HTML in ${OUT}/html/index.html")
elseif(WERROR)
  message(FATAL_ERROR "Doxygen warnings (see ${log}):\n${warnings}")
else()
  message(WARNING "Doxygen warnings (see ${log}):\n${warnings}")
endif()
