#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs the whole test suite through ctest
# (the Catch2 tests and a --smoke run of every example). Arguments go to ctest, e.g.
# `scripts/test.sh -R random`.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cmake --build "$BUILD_DIR" -j "$DG_JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
