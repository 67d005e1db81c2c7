# Finds the OpenBLAS build dyngrad links and defines the imported target dyngrad::OpenBLAS (the
# library, and cblas.h's folder as its include directory). Shared by dyngrad's own build and by its
# installed package config, so that a downstream project links the same build dyngrad was tested
# with. Set DG_OPENBLAS_IMPORTED_GLOBAL to GLOBAL to make the target visible in every directory.
#
# OpenBLAS's OpenMP build (libopenblas-openmp-dev) is preferred when it is installed. The engine's
# pool is the only source of threads (GEMMs are split in engine/cpu/blas.h, OpenBLAS is set to one
# thread), so what matters in a BLAS build is:
# - it must be safe to call from several threads at once. Debian's single-threaded build
#   (libopenblas-serial-dev) is not: it shares its packing buffers without a lock, and concurrent
#   256^3 sgemm calls from two threads gave wrong products in about 1 call in 600. Never link it.
# - it should start no thread of its own. The pthreads build starts a BLAS worker at load time that
#   spins on the second core for the first ~0.1 s of every process, which often put short runs in a
#   mode a third slower (docs/performance.md, "Threads"). The OpenMP build starts threads only for a
#   parallel region, which at one thread it never opens; it brings its OpenMP runtime (libgomp) itself.
# The library is linked by its full path, so CMake gives every executable that links it a RUNPATH
# to its directory, ahead of the system-wide libopenblas.so.0 (which may be another build).
if(TARGET dyngrad::OpenBLAS)
  return()
endif()

find_library(DG_OPENBLAS_OPENMP NAMES openblas
             PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
if(DG_OPENBLAS_OPENMP)
  set(DG_OPENBLAS_LIBRARIES ${DG_OPENBLAS_OPENMP})
  find_path(DG_CBLAS_INCLUDE cblas.h PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
            NO_DEFAULT_PATH)
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  set(DG_OPENBLAS_LIBRARIES ${BLAS_LIBRARIES})
  find_path(DG_CBLAS_INCLUDE cblas.h
            PATH_SUFFIXES openblas ${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread)
endif()

if(DG_OPENBLAS_LIBRARIES MATCHES "openblas-serial")
  set(DG_OPENBLAS_PROBLEM "${DG_OPENBLAS_LIBRARIES} is OpenBLAS's single-threaded build, which is "
                          "not safe to call from several threads at once; install libopenblas-openmp-dev")
elseif(NOT DG_OPENBLAS_LIBRARIES OR NOT DG_CBLAS_INCLUDE)
  set(DG_OPENBLAS_PROBLEM "OpenBLAS not found (library: '${DG_OPENBLAS_LIBRARIES}', cblas.h: "
                          "'${DG_CBLAS_INCLUDE}'); install libopenblas-openmp-dev")
else()
  set(DG_OPENBLAS_PROBLEM "")
  add_library(dyngrad::OpenBLAS INTERFACE IMPORTED ${DG_OPENBLAS_IMPORTED_GLOBAL})
  set_target_properties(dyngrad::OpenBLAS PROPERTIES
                        INTERFACE_LINK_LIBRARIES "${DG_OPENBLAS_LIBRARIES}"
                        INTERFACE_INCLUDE_DIRECTORIES "${DG_CBLAS_INCLUDE}")
endif()
