#!/usr/bin/env bash
# Checks that another project can use dyngrad as a package: installs the libraries built in
# BUILD_DIR (default build/, built first if needed) into a temporary prefix, moves that prefix
# elsewhere (the package must be relocatable), then builds and runs tests/downstream/ (a custom
# dynamic layer trained for a few steps; it exits non-zero unless its loss falls) against it twice:
#   1. through CMake: find_package(dyngrad 0.2 REQUIRED) with CMAKE_PREFIX_PATH;
#   2. through pkg-config: c++ gated_mixture.cpp $(pkg-config --cflags --libs dyngrad);
# then (on Debian) makes the Debian package with CPack (libdyngrad-dev), unpacks it into a folder of
# its own and builds the project against that through find_package once more.
# With --fetchcontent it also builds the project from this source tree (FetchContent; rebuilds the
# libraries, so it takes as long as a build). Exits non-zero on the first failure.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyngrad-downstream.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SOURCE=$DG_ROOT/tests/downstream
CXX_COMPILER=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")

step() { printf -- '-- downstream: %s\n' "$*"; }

step "building and installing the libraries of $BUILD_DIR"
cmake "$BUILD_DIR" >/dev/null  # configure again first, so that the targets below exist
cmake --build "$BUILD_DIR" -j "$DG_JOBS" \
      --target dyngrad dyngrad_nn dyngrad_dynamic dyngrad_partition dyngrad_datasets
cmake --install "$BUILD_DIR" --prefix "$WORK/staging" >/dev/null
mv "$WORK/staging" "$WORK/prefix"  # relocated: nothing may point into the staging folder

step "CMake find_package against $WORK/prefix"
cmake -S "$SOURCE" -B "$WORK/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_COMPILER="$CXX_COMPILER" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/cmake-build"
"$WORK/cmake-build/gated_mixture"

step "pkg-config against $WORK/prefix"
PC_FILE=$(find "$WORK/prefix" -name dyngrad.pc)
export PKG_CONFIG_PATH=$(dirname "$PC_FILE")
# shellcheck disable=SC2046  # pkg-config prints a list of arguments
"$CXX_COMPILER" -O2 "$SOURCE/gated_mixture.cpp" -o "$WORK/gated_mixture_pc" \
    $(pkg-config --cflags --libs dyngrad)
"$WORK/gated_mixture_pc"

if command -v dpkg-deb >/dev/null; then
  step "cpack -G DEB, unpacked into $WORK/deb-root"
  (cd "$WORK" && cpack -G DEB --config "$BUILD_DIR/CPackConfig.cmake" -B "$WORK/deb" >/dev/null)
  dpkg-deb -x "$WORK"/deb/libdyngrad-dev_*.deb "$WORK/deb-root"
  cmake -S "$SOURCE" -B "$WORK/deb-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_COMPILER="$CXX_COMPILER" -DCMAKE_PREFIX_PATH="$WORK/deb-root/usr" >/dev/null
  cmake --build "$WORK/deb-build"
  "$WORK/deb-build/gated_mixture"
fi

if [[ ${1:-} == --fetchcontent ]]; then
  step "FetchContent from $DG_ROOT"
  cmake -S "$SOURCE" -B "$WORK/fetch-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_COMPILER="$CXX_COMPILER" -DDYNGRAD_SOURCE_DIR="$DG_ROOT" >/dev/null
  cmake --build "$WORK/fetch-build" -j "$DG_JOBS"
  "$WORK/fetch-build/gated_mixture"
fi
step "passed"
