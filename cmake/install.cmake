# Install rules (included by CMakeLists.txt when DG_INSTALL is on): `cmake --install build --prefix P`
# puts the headers under P/include/dyngrad/ (engine/, nn/, ... as in the source tree), the static
# libraries under P/lib/, and the package files a downstream project finds them by: a relocatable
# CMake config with its version file and exported targets (P/lib/cmake/dyngrad/) and a pkg-config
# file (P/lib/pkgconfig/dyngrad.pc).
include(CMakePackageConfigHelpers)
set(DG_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dyngrad)

foreach(folder engine nn dynamic partition datasets)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dyngrad/${folder}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
endforeach()
install(TARGETS ${DG_LIBRARIES} dyngrad_all EXPORT dyngradTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT dyngradTargets NAMESPACE dyngrad:: DESTINATION ${DG_CMAKE_INSTALL_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dyngradConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/dyngradConfig.cmake
                              INSTALL_DESTINATION ${DG_CMAKE_INSTALL_DIR})
# 0.x: a release with another minor version may change the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dyngradConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dyngradConfig.cmake ${PROJECT_BINARY_DIR}/dyngradConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/dyngradOpenBLAS.cmake
              ${PROJECT_SOURCE_DIR}/cmake/dyngradUtf8proc.cmake
        DESTINATION ${DG_CMAKE_INSTALL_DIR})

# pkg-config: OpenBLAS by its full path, with a RUNPATH to its folder (as CMake gives the build).
set(DG_PC_OPENBLAS "")
foreach(library ${DG_OPENBLAS_LIBRARIES})
  get_filename_component(folder ${library} DIRECTORY)
  string(APPEND DG_PC_OPENBLAS " -Wl,-rpath,${folder} ${library}")
endforeach()
# A build with the CUDA backend also links the CUDA runtime and cuBLAS.
if(DG_WITH_CUDA)
  string(APPEND DG_PC_OPENBLAS " -Wl,-rpath,${CUDAToolkit_LIBRARY_DIR} -L${CUDAToolkit_LIBRARY_DIR} -lcudart -lcublas")
endif()
string(STRIP "${DG_PC_OPENBLAS}" DG_PC_OPENBLAS)
file(RELATIVE_PATH DG_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" DG_PC_TO_PREFIX "${DG_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/dyngrad.pc.in ${PROJECT_BINARY_DIR}/dyngrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dyngrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# A Debian package of the above (`cpack -G DEB` in the build directory): libdyngrad-dev, installing
# under /usr, depending on the -dev packages the config finds.
set(CPACK_PACKAGE_NAME libdyngrad-dev)
set(CPACK_PACKAGE_VENDOR dyngrad)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "C++20 tensors with reverse-mode autograd, for studying dynamic neural networks")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "dyngrad")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libeigen3-dev (>= 3.4), libfmt-dev, nlohmann-json3-dev (>= 3.10), zlib1g-dev, libutf8proc-dev, libopenblas-openmp-dev | libopenblas-dev")
include(CPack)
