# check_format.cmake - fails, naming the files, when clang-format would
# change any C source or header of the project (the folders below ROOT
# that hold code; build trees are not among them).
# Usage: cmake -DCLANG_FORMAT=path -DROOT=source-dir -P check_format.cmake
set(dirs include src tests bench examples fuzz tools python)
set(files)
foreach(dir ${dirs})
  file(GLOB_RECURSE found ${ROOT}/${dir}/*.c ${ROOT}/${dir}/*.h)
  list(APPEND files ${found})
endforeach()
list(LENGTH files count)
if(count EQUAL 0)
  message(FATAL_ERROR "no C sources found under ${ROOT}")
endif()
set(bad)
foreach(file ${files})
  execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${file}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    file(RELATIVE_PATH rel ${ROOT} ${file})
    list(APPEND bad ${rel})
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n  " listing)
  message(FATAL_ERROR "clang-format would change these files (run clang-format -i on them):\n  ${listing}")
endif()
message(STATUS "${count} files laid out as .clang-format says")
