#!/usr/bin/env bash
# Gets a Debian 12 machine ready to build dyngrad: installs the packages below that are missing
# (apt-get runs only when one is) and configures the build directory once (Ninja re-runs CMake by
# itself when a CMakeLists.txt changes). Sourced by run-example.sh and test.sh, which then build
# only what they need; it can also be run on its own.
#
# Environment: BUILD_DIR (default: build/ in the repository), DG_CMAKE_ARGS (extra arguments for
# the first configure, e.g. "-DDG_CUDA=OFF"), DG_EXTRA_PACKAGES (more Debian packages to install,
# e.g. "clang" for .ci/run's clang build); DG_SETUP_FUZZ=1 also installs DG_FUZZ_PACKAGES (the
# fuzz build's compiler, for scripts/fuzz.sh) and skips configuring BUILD_DIR.
set -euo pipefail

DG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$DG_ROOT/build}
DG_JOBS=${DG_JOBS:-$(nproc)}

DG_PACKAGES=(
  build-essential   # g++ (C++20), make
  cmake             # >= 3.25
  ninja-build
  pkg-config
  ccache            # downstream-test.sh: its two from-source builds compile the libraries once
  libeigen3-dev     # Eigen 3.4
  libopenblas-dev   # BLAS (cblas_sgemm)
  libopenblas-openmp-dev  # its OpenMP build, which the engine links (CMakeLists.txt)
  catch2            # Catch2 v2, for the tests
  libfmt-dev        # error messages and printing
  nlohmann-json3-dev  # JSON: safetensors headers (nn)
  libstb-dev        # image loading (datasets; tests read figures back)
  libcli11-dev      # command lines of the examples (examples/common/command_line.h)
  libplplot-dev     # figures of the examples (examples/common/plot.h)
  plplot-driver-cairo  # PLplot's PNG device (pngcairo), with anti-aliased text and lines
  zlib1g-dev        # gzipped IDX files (datasets)
  libutf8proc-dev   # Unicode normalisation and categories for the BERT tokenizer (datasets)
  dataset-fashion-mnist  # Fashion-MNIST IDX files (datasets, examples)
  wordnet-base           # WordNet 3.0 glosses (datasets, examples)
)
# shellcheck disable=SC2206  # a list of package names
DG_PACKAGES+=(${DG_EXTRA_PACKAGES:-})

# Only for the fuzz targets (tests/fuzz, scripts/fuzz.sh): clang and its libFuzzer and sanitizer
# runtimes.
DG_FUZZ_PACKAGES=(
  clang-14
  libclang-rt-14-dev
)
if [[ ${DG_SETUP_FUZZ:-0} == 1 ]]; then
  DG_PACKAGES+=("${DG_FUZZ_PACKAGES[@]}")
fi

dg_install_missing_packages() {
  if ! command -v dpkg-query >/dev/null; then
    echo "setup: not a Debian system; install the equivalents of: ${DG_PACKAGES[*]}" >&2
    return 0
  fi
  local missing=() pkg status
  for pkg in "${DG_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
  done
  (( ${#missing[@]} == 0 )) && return 0
  echo "setup: installing ${missing[*]}"
  local sudo=()
  (( $(id -u) == 0 )) || sudo=(sudo)
  "${sudo[@]}" apt-get update -q </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

dg_configure() {
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    # shellcheck disable=SC2086  # DG_CMAKE_ARGS is a list of arguments
    cmake -S "$DG_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${DG_CMAKE_ARGS:-}
  fi
  # Keep the build directory out of `git status`.
  [[ -f $BUILD_DIR/.gitignore ]] || echo '*' > "$BUILD_DIR/.gitignore"
}

dg_install_missing_packages
if [[ ${DG_SETUP_FUZZ:-0} != 1 ]]; then
  dg_configure
fi
