"""Reads a safetensors file with Python's `safetensors` package and prints its tensors as JSON
({name: {"dtype", "shape", "values"}}, plus "__metadata__"), so Kiln's tests can check files Kiln wrote."""
import json
import sys

from safetensors import safe_open

out = {}
with safe_open(sys.argv[1], framework="np") as f:
    out["__metadata__"] = f.metadata()
    for name in f.keys():
        array = f.get_tensor(name)
        out[name] = {"dtype": str(array.dtype), "shape": list(array.shape), "values": array.astype("float64").ravel().tolist()}
print(json.dumps(out))
