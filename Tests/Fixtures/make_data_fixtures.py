"""Writes small IDX files (MNIST layout; one gzip-compressed) for Kiln's data-reader tests.

Run from this folder: `python3 make_data_fixtures.py` (standard library only).
"""
import gzip
import struct


def idx(type_code, shape, payload):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + payload


images = idx(0x08, (3, 2, 2), bytes(range(0, 240, 20)))  # 0, 20, ..., 220
with gzip.open("images-idx3-ubyte.gz", "wb") as f:
    f.write(images)
with open("labels-idx1-ubyte", "wb") as f:
    f.write(idx(0x08, (3,), bytes([7, 0, 9])))
with open("floats.idx", "wb") as f:
    f.write(idx(0x0D, (2, 2), struct.pack(">4f", 1.5, -2.0, 0.25, 1e10)))
