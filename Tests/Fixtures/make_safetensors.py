"""Writes python.safetensors with Python's `safetensors` package, for Kiln's interop tests.

Run from this folder: `pip install safetensors numpy && python3 make_safetensors.py`. The values are simple
formulas that the Swift test recomputes independently.
"""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "float32_matrix": (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1),
    "float64_vector": np.array([1.0 / 3, -2.5, 1e-300, 6.02214076e23], dtype=np.float64),
    "float16_vector": np.array([0.1, -65504, 6.1e-5], dtype=np.float16),
    "int64_vector": np.array([-(2**40), 0, 2**62], dtype=np.int64),
    "int32_cube": np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 12,
    "uint8_bytes": np.array([0, 127, 255], dtype=np.uint8),
    "bool_mask": np.array([[True, False], [False, True]]),
    "empty": np.zeros((0, 3), dtype=np.float32),
    "scalar": np.array(42.0, dtype=np.float32),
}
save_file(tensors, "python.safetensors", metadata={"written_by": "python safetensors", "format": "np"})
