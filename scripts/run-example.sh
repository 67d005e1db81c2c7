#!/usr/bin/env bash
# Installs what is missing, builds the main example (examples/spirals_mlp.cpp: a small network
# trained from scratch on a synthetic data set) and runs it. Arguments go to the example, e.g.
# `scripts/run-example.sh --steps 3000 --seed 7`.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cmake --build "$BUILD_DIR" --target spirals_mlp -j "$DG_JOBS"
exec "$BUILD_DIR/examples/spirals_mlp" "$@"
