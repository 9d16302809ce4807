# smoke.cmake - CTest smoke test of tpbench: a --quick run must exit 0,
# print the results and targets tables, and write a CSV with rows.
# Usage: cmake -DTPBENCH=path -DOUT=dir -P smoke.cmake
file(MAKE_DIRECTORY ${OUT})
execute_process(
  COMMAND ${TPBENCH} --quick --quiet --verify --csv=${OUT}/smoke.csv --chart=${OUT}/smoke.dat
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tpbench --quick exited with ${rc}: ${err}")
endif()
foreach(needle "workload +case +metric +transport +median" "bulk +bsize=64K" "Targets")
  if(NOT out MATCHES "${needle}")
    message(FATAL_ERROR "tpbench output lacks '${needle}'")
  endif()
endforeach()
file(STRINGS ${OUT}/smoke.csv rows)
list(LENGTH rows n)
if(n LESS 20)
  message(FATAL_ERROR "${OUT}/smoke.csv has only ${n} lines")
endif()
