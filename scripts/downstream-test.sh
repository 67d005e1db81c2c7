#!/usr/bin/env bash
# Checks that another project can use dyngrad in each way the README offers, by building and
# running tests/downstream/ (a custom dynamic layer trained for a few steps; it exits non-zero
# unless its loss falls) five times. It installs the libraries built in BUILD_DIR (default build/,
# built first if needed) into a temporary prefix and moves that prefix elsewhere (the package must
# be relocatable), then builds the project
#   1. through CMake: find_package(dyngrad 0.2 REQUIRED) with CMAKE_PREFIX_PATH;
#   2. through pkg-config: c++ gated_mixture.cpp $(pkg-config --cflags --libs dyngrad);
#   3. (on Debian) against the Debian package CPack makes (libdyngrad-dev), unpacked into a folder
#      of its own, through find_package;
# and from this source tree, where dyngrad builds only its libraries (tests, examples and
# benchmarks default to OFF for a project that is not the top level; checked below):
#   4. through FetchContent_Declare(dyngrad SOURCE_DIR <this tree>) + FetchContent_MakeAvailable;
#   5. through add_subdirectory(<this tree> dyngrad-build).
# Ways 4 and 5 compile the libraries again (Release, CPU only, with BUILD_DIR's compiler);
# --installed-only skips them. Exits non-zero on the first failure.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyngrad-downstream.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SOURCE=$DG_ROOT/tests/downstream
CXX_COMPILER=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
# The from-source ways compile the same libraries twice: through a compiler cache (BUILD_DIR's
# launcher, else ccache where installed) the second build takes the first one's objects.
CXX_LAUNCHER=$(sed -n 's/^CMAKE_CXX_COMPILER_LAUNCHER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
if [[ -z $CXX_LAUNCHER ]] && command -v ccache >/dev/null; then CXX_LAUNCHER=ccache; fi
case ${1:-} in
  "") FROM_SOURCE=1 ;;
  --installed-only) FROM_SOURCE=0 ;;
  *) echo "usage: $0 [--installed-only]" >&2; exit 2 ;;
esac

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

# Builds and runs the project with dyngrad from this source tree (DYNGRAD_FROM=$1), building only
# what gated_mixture links; fails if dyngrad's own tests, examples or benchmarks were configured.
from_source() {
  local way=$1 dir="$WORK/$1-build" start=$SECONDS
  step "$way from $DG_ROOT"
  cmake -S "$SOURCE" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_COMPILER="$CXX_COMPILER" -DCMAKE_CXX_COMPILER_LAUNCHER="$CXX_LAUNCHER" \
        -DDYNGRAD_FROM="$way" -DDYNGRAD_SOURCE_DIR="$DG_ROOT" -DDG_CUDA=OFF >/dev/null
  local extra
  extra=$(cmake --build "$dir" --target help |
          grep -Eo '^(dg_tests|micro_bench|bench_[a-z_]+|dyngrad_examples_common):' || true)
  if [[ -n $extra ]]; then
    echo "downstream: dyngrad inside another project configured more than its libraries:" \
         $extra >&2
    exit 1
  fi
  cmake --build "$dir" -j "$DG_JOBS" --target gated_mixture
  "$dir/gated_mixture"
  step "$way: configured, built and ran in $((SECONDS - start)) s"
}
if (( FROM_SOURCE )); then
  from_source fetchcontent
  from_source subdirectory
fi
step "passed"
