# install_test.cmake - driven by CTest (see CMakeLists.txt): MODE=setup
# installs BUILD_DIR into WORK_DIR/prefix; MODE=pkgconfig and
# MODE=find_package build CONSUMER_DIR/consumer.c against that copy and run it.
cmake_minimum_required(VERSION 3.18)
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

set(san_flags "")
if(SANITIZE)
  # A sanitized library needs a sanitized program (the runtime must load first).
  set(san_flags -fsanitize=${SANITIZE})
endif()

if(MODE STREQUAL "setup")
  file(REMOVE_RECURSE ${WORK_DIR})
  set(cfg "")
  if(CONFIG)
    set(cfg --config ${CONFIG})
  endif()
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} ${cfg})
  if(NOT EXISTS ${prefix}/include/tpipe.h)
    message(FATAL_ERROR "tpipe.h was not installed into ${prefix}/include")
  endif()
  message(STATUS "installed into ${prefix}")

elseif(MODE STREQUAL "pkgconfig")
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "pkg-config not found (apt-get install pkg-config)")
  endif()
  file(GLOB_RECURSE pcs ${prefix}/*/tpipe.pc)
  if(NOT pcs)
    message(FATAL_ERROR "no tpipe.pc under ${prefix}")
  endif()
  list(GET pcs 0 pc)
  get_filename_component(pcdir ${pc} DIRECTORY)
  # Only the installed copy: no other pkg-config directories.
  set(ENV{PKG_CONFIG_LIBDIR} ${pcdir})
  set(ENV{PKG_CONFIG_PATH} "")
  run(${PKG_CONFIG} --cflags --libs tpipe)
  string(STRIP "${run_out}" flags)
  message(STATUS "pkg-config --cflags --libs tpipe: ${flags}")
  # The flags must point into the temporary prefix, not where the build was
  # configured to install (a prefix baked into tpipe.pc would fail here).
  string(FIND "${flags}" "${prefix}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "tpipe.pc does not point into the install prefix ${prefix}: ${flags}")
  endif()
  run(${PKG_CONFIG} --variable=libdir tpipe)
  string(STRIP "${run_out}" libdir)
  separate_arguments(flag_list UNIX_COMMAND "${flags}")
  set(exe ${WORK_DIR}/consumer_pkgconfig)
  run(${C_COMPILER} -std=c11 ${san_flags} ${CONSUMER_DIR}/consumer.c -o ${exe} ${flag_list}
      -Wl,-rpath,${libdir})
  run(${exe})
  message(STATUS "${run_out}")

elseif(MODE STREQUAL "find_package")
  set(bdir ${WORK_DIR}/consumer-build)
  file(REMOVE_RECURSE ${bdir})
  string(REPLACE ";" " " san "${san_flags}")
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${bdir}
      -DCMAKE_PREFIX_PATH=${prefix}
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
      -DCMAKE_C_COMPILER=${C_COMPILER}
      "-DCMAKE_C_FLAGS=${san}"
      -DEXPECT_PREFIX=${prefix})
  run(${CMAKE_COMMAND} --build ${bdir})
  run(${bdir}/consumer)
  message(STATUS "${run_out}")

else()
  message(FATAL_ERROR "MODE must be setup, pkgconfig or find_package")
endif()
