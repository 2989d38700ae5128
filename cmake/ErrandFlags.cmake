# ErrandFlags.cmake — compiler settings shared by every errand target.
#
# Directory-wide settings (C11, _GNU_SOURCE, sanitizers) are set once here so
# they reach the library, tests, examples and any subdirectory (bench, fuzz,
# cli) alike.  Warnings are per target (errand_target_warnings) so that code
# errand does not own — peers built for benchmarks — is not held to them.

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF) # -std=c11, not gnu11; extensions come from _GNU_SOURCE

# One feature-test macro for the whole tree: it turns on POSIX 2008 and the
# Linux extras (pipe2, accept4, pidfd, ...) that src/platform/ uses.
add_compile_definitions(_GNU_SOURCE)

# ---- sanitizers: applied to everything built below this point --------------
set(ERRAND_SANITIZE "" CACHE STRING
    "Sanitizer build: empty, 'address' (ASan+UBSan) or 'thread' (TSan)")
set_property(CACHE ERRAND_SANITIZE PROPERTY STRINGS "" address thread)

if(ERRAND_SANITIZE STREQUAL "address")
  set(_errand_san -fsanitize=address,undefined -fno-sanitize-recover=all
                  -fno-omit-frame-pointer)
elseif(ERRAND_SANITIZE STREQUAL "thread")
  set(_errand_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT ERRAND_SANITIZE STREQUAL "")
  message(FATAL_ERROR
    "ERRAND_SANITIZE='${ERRAND_SANITIZE}': use '', 'address' or 'thread'")
endif()
if(_errand_san)
  add_compile_options(${_errand_san})
  add_link_options(${_errand_san})
  message(STATUS "errand: sanitizer build: ${_errand_san}")
endif()

# ---- warnings --------------------------------------------------------------
option(ERRAND_WERROR "Treat warnings as errors" ON)

set(ERRAND_WARNING_FLAGS -Wall -Wextra -Wshadow -Wstrict-prototypes)
if(ERRAND_WERROR)
  list(APPEND ERRAND_WARNING_FLAGS -Werror)
endif()

# errand_target_warnings(<target> [LIBRARY])
#   The project's warning set.  LIBRARY adds -Wmissing-prototypes: in the
#   library every non-static function must be declared in a header first.
function(errand_target_warnings target)
  cmake_parse_arguments(arg "LIBRARY" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE ${ERRAND_WARNING_FLAGS})
  if(arg_LIBRARY)
    target_compile_options(${target} PRIVATE -Wmissing-prototypes)
  endif()
endfunction()
