"""A safetensors file written by the reference implementation (Python `safetensors`, via NumPy),
for tests/nn/test_checkpoint.cpp to load, and a reader for files dyngrad writes.

    pip install safetensors          # into a venv made with --system-site-packages (for numpy)
    python tests/reference/checkpoint_python.py write tests/reference/checkpoint_python.safetensors
    python tests/reference/checkpoint_python.py check FILE   # prints what it loaded from FILE

The written file holds every dtype dyngrad reads, a 0-dim and an empty tensor, a name that needs
JSON escapes, and metadata with non-ASCII text. The reference writer orders the data by dtype
alignment and then name, so its data order differs from the name order.
"""
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

TENSORS = {
    "weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5,
    "scale": np.array(2.718281828459045, dtype=np.float64),  # 0-dim
    "indices": np.array([3, -1, 1 << 40, -(1 << 62)], dtype=np.int64),
    "mask": np.array([[True, False], [False, True]]),
    "empty": np.zeros((0, 3), dtype=np.float32),
    'odd "name"\\with\tescapes \u00e9': np.array([1.5, -2.25], dtype=np.float64),
}
METADATA = {"format": "np", "note": "d\u00fcnn \u2713 \"quoted\""}


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "write":
        save_file(TENSORS, path, metadata=METADATA)
        return
    loaded = load_file(path)
    with safe_open(path, framework="np") as f:
        print("metadata", f.metadata())
    for name in sorted(loaded):
        t = loaded[name]
        print(repr(name), t.dtype, list(t.shape), t.reshape(-1).tolist())


if __name__ == "__main__":
    main()
