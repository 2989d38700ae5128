# ErrandInstall.cmake — install rules: liberrand (.so and .a), errand.h, a
# pkg-config file and a CMake package exporting errand::errand and
# errand::errand_static.
include(CMakePackageConfigHelpers)

set(ERRAND_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/errand")

install(TARGETS errand errand_static
  EXPORT errandTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/include/errand.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT errandTargets
  NAMESPACE errand::
  FILE errandTargets.cmake
  DESTINATION "${ERRAND_CMAKE_DIR}")
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/errandConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/errandConfig.cmake"
  INSTALL_DESTINATION "${ERRAND_CMAKE_DIR}")
# 0.x: a new minor version may break the API, so only x.y.* is compatible.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/errandConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/errandConfig.cmake"
              "${PROJECT_BINARY_DIR}/errandConfigVersion.cmake"
        DESTINATION "${ERRAND_CMAKE_DIR}")

# pkg-config.  The prefix is only known at install time (cmake --install
# --prefix may change it), so errand.pc.in is configured in two steps: now
# for everything but the prefix, then by an install-time rule.
set(ERRAND_PC_LIBS_PRIVATE "-lpthread -ljansson")
foreach(lib IN LISTS CMAKE_DL_LIBS)
  string(APPEND ERRAND_PC_LIBS_PRIVATE " -l${lib}")
endforeach()
if(ERRAND_HAVE_LIBM)
  string(APPEND ERRAND_PC_LIBS_PRIVATE " -lm")
endif()
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(ERRAND_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(ERRAND_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
set(ERRAND_PC_PREFIX "@ERRAND_PC_PREFIX@") # kept for the install-time step
configure_file("${PROJECT_SOURCE_DIR}/errand.pc.in"
               "${PROJECT_BINARY_DIR}/generated/errand.pc.in" @ONLY)
install(CODE "
  set(ERRAND_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/generated/errand.pc.in\"
                 \"${PROJECT_BINARY_DIR}/generated/errand.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/generated/errand.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
