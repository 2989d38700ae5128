# ErrandCompareOutput.cmake — run by ctest in script mode (cmake -P) for an
# example with EXPECTED_OUTPUT: runs EXE (under LAUNCHER, if any) with ARGS
# and fails unless it exits 0 and its standard output equals EXPECTED byte
# for byte.  Standard error is passed through untouched.
foreach(v EXE EXPECTED)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "ErrandCompareOutput: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${LAUNCHER} "${EXE}" ${ARGS}
                OUTPUT_VARIABLE out
                RESULT_VARIABLE rc)
file(READ "${EXPECTED}" want)
if(NOT rc STREQUAL "0")
  message("---- output ----\n${out}")
  message(FATAL_ERROR "${EXE} exited with ${rc}")
endif()
if(NOT out STREQUAL want)
  message("---- expected (${EXPECTED}) ----\n${want}---- got ----\n${out}----")
  message(FATAL_ERROR "${EXE}: output differs from ${EXPECTED}")
endif()
