# FindLibmnl: Debian's libmnl-dev ships a pkg-config file but no CMake package.
# Provides the imported target Libmnl::libmnl.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LIBMNL QUIET libmnl)
endif()
find_path(Libmnl_INCLUDE_DIR NAMES libmnl/libmnl.h HINTS ${PC_LIBMNL_INCLUDE_DIRS})
find_library(Libmnl_LIBRARY NAMES mnl HINTS ${PC_LIBMNL_LIBRARY_DIRS})
set(Libmnl_VERSION ${PC_LIBMNL_VERSION})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libmnl
  REQUIRED_VARS Libmnl_LIBRARY Libmnl_INCLUDE_DIR
  VERSION_VAR Libmnl_VERSION)
if(Libmnl_FOUND AND NOT TARGET Libmnl::libmnl)
  add_library(Libmnl::libmnl UNKNOWN IMPORTED)
  set_target_properties(Libmnl::libmnl PROPERTIES
    IMPORTED_LOCATION "${Libmnl_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libmnl_INCLUDE_DIR}")
endif()
mark_as_advanced(Libmnl_INCLUDE_DIR Libmnl_LIBRARY)
