# ErrandTesting.cmake — how tests and examples become executables and ctest
# entries.  tests/CMakeLists.txt and examples/CMakeLists.txt (when they exist)
# use the same two functions as the top-level globbing, so a test or example
# is built the same way whichever file names it.
#
#   errand_add_test(<name> [SOURCES f.c...] [LABELS l...] [TIMEOUT s]
#                   [ARGS a...])
#     An executable linked to errand_static (plus tests/support_*.c), run by
#     ctest as <name> with labels "unit" + LABELS and a TIMEOUT (default
#     ERRAND_TEST_TIMEOUT = 300 s).  SOURCES defaults to <name>.c in the
#     calling directory.  Tests may include internal headers (src/ is on their
#     include path) and may read ERRAND_TEST_SCALE, ERRAND_SOURCE_DIR and
#     ERRAND_BINARY_DIR from the environment.
#
#   errand_add_example(<name> [SOURCES f.c...] [TEST] [ARGS a...]
#                      [EXPECTED_OUTPUT file] [LABELS l...])
#     An executable linked to errand_static that sees only include/errand.h.
#     With TEST it is also a ctest entry example_<name> (label "example");
#     with EXPECTED_OUTPUT its standard output must equal that file exactly.
#
# With -DERRAND_VALGRIND=ON every test command runs under
# scripts/valgrind-test.sh (use a build directory of its own for that).

set(ERRAND_TEST_TIMEOUT 300 CACHE STRING "ctest TIMEOUT of each test, seconds")
option(ERRAND_VALGRIND "Run every ctest entry under scripts/valgrind-test.sh" OFF)

if(ERRAND_VALGRIND)
  if(NOT ERRAND_SANITIZE STREQUAL "")
    message(FATAL_ERROR "ERRAND_VALGRIND and ERRAND_SANITIZE do not mix")
  endif()
  set(ERRAND_TEST_LAUNCHER "${PROJECT_SOURCE_DIR}/scripts/valgrind-test.sh")
else()
  set(ERRAND_TEST_LAUNCHER "")
endif()

set(_errand_test_env
    "ERRAND_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "ERRAND_BINARY_DIR=${PROJECT_BINARY_DIR}")

# tests/support_*.c: helpers linked into every test, compiled once.
file(GLOB _errand_support_sources CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/tests/support_*.c")
if(_errand_support_sources AND NOT TARGET errand_test_support)
  add_library(errand_test_support STATIC ${_errand_support_sources})
  target_include_directories(errand_test_support
    PUBLIC "${PROJECT_SOURCE_DIR}/tests" "${PROJECT_SOURCE_DIR}/src")
  target_link_libraries(errand_test_support PUBLIC errand_static Threads::Threads)
  errand_target_warnings(errand_test_support)
endif()

function(errand_add_test name)
  cmake_parse_arguments(arg "" "TIMEOUT" "SOURCES;LABELS;ARGS" ${ARGN})
  if(NOT arg_SOURCES)
    set(arg_SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/${name}.c")
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT ${ERRAND_TEST_TIMEOUT})
  endif()
  add_executable(${name} ${arg_SOURCES})
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
  target_include_directories(${name}
    PRIVATE "${PROJECT_SOURCE_DIR}/tests" "${PROJECT_SOURCE_DIR}/src")
  target_link_libraries(${name} PRIVATE errand_static Threads::Threads)
  if(TARGET errand_test_support)
    target_link_libraries(${name} PRIVATE errand_test_support)
  endif()
  errand_target_warnings(${name})
  add_test(NAME ${name}
           COMMAND ${ERRAND_TEST_LAUNCHER} $<TARGET_FILE:${name}> ${arg_ARGS}
           WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
  set(labels unit ${arg_LABELS})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${arg_TIMEOUT}
    LABELS "${labels}"
    ENVIRONMENT "${_errand_test_env}")
endfunction()

# errand_add_tests_from_glob(): every tests/test_*.c is a test named after
# its file.  A test picks extra labels with one line anywhere in its source:
#     /* ERRAND_TEST_LABELS: valgrind slow */
function(errand_add_tests_from_glob)
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/test_*.c")
  foreach(src IN LISTS sources)
    get_filename_component(name "${src}" NAME_WE)
    file(STRINGS "${src}" line REGEX "ERRAND_TEST_LABELS:" LIMIT_COUNT 1)
    set(labels "")
    if(line)
      string(REGEX REPLACE ".*ERRAND_TEST_LABELS:[ \t]*([A-Za-z0-9_, \t-]*).*"
                           "\\1" labels "${line}")
      string(REGEX REPLACE "[, \t]+" ";" labels "${labels}")
      list(REMOVE_ITEM labels "")
    endif()
    errand_add_test(${name} SOURCES "${src}" LABELS ${labels})
  endforeach()
  list(LENGTH sources n)
  message(STATUS "errand: ${n} test(s) from tests/test_*.c")
endfunction()

function(errand_add_example name)
  cmake_parse_arguments(arg "TEST" "EXPECTED_OUTPUT"
                        "SOURCES;ARGS;LABELS" ${ARGN})
  if(NOT arg_SOURCES)
    set(arg_SOURCES "${CMAKE_CURRENT_SOURCE_DIR}/${name}.c")
  endif()
  add_executable(${name} ${arg_SOURCES})
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/examples")
  target_link_libraries(${name} PRIVATE errand_static Threads::Threads)
  errand_target_warnings(${name})
  if(NOT arg_TEST AND NOT arg_EXPECTED_OUTPUT)
    return()
  endif()
  if(arg_EXPECTED_OUTPUT)
    get_filename_component(expected "${arg_EXPECTED_OUTPUT}" ABSOLUTE)
    string(REPLACE ";" "\\;" args_escaped "${arg_ARGS}")
    add_test(NAME example_${name}
             COMMAND "${CMAKE_COMMAND}"
                     "-DLAUNCHER=${ERRAND_TEST_LAUNCHER}"
                     "-DEXE=$<TARGET_FILE:${name}>"
                     "-DARGS=${args_escaped}"
                     "-DEXPECTED=${expected}"
                     -P "${PROJECT_SOURCE_DIR}/cmake/ErrandCompareOutput.cmake")
  else()
    add_test(NAME example_${name}
             COMMAND ${ERRAND_TEST_LAUNCHER} $<TARGET_FILE:${name}> ${arg_ARGS})
  endif()
  set(labels example ${arg_LABELS})
  set_tests_properties(example_${name} PROPERTIES
    TIMEOUT ${ERRAND_TEST_TIMEOUT}
    LABELS "${labels}"
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/examples"
    ENVIRONMENT "${_errand_test_env}")
endfunction()

function(errand_add_examples_from_glob)
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/examples/*.c")
  foreach(src IN LISTS sources)
    get_filename_component(name "${src}" NAME_WE)
    errand_add_example(${name} SOURCES "${src}")
  endforeach()
endfunction()
