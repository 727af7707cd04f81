"""Stand-in weights for a model that cannot travel: the same tensors, freshly drawn.

usage: stand_in_weights.py header MODEL.safetensors HEADER.json
       stand_in_weights.py make HEADER.json OUT.safetensors [SEED]

all-MiniLM-L6-v2's 87 MiB of weights do not fit in the 64 MiB bundle of
`scripts/gpu-check.sh` beside its binaries, and nothing can be downloaded on the GPU machine.
So `header` keeps only the names, dtypes and shapes of a safetensors file (a few KiB), and
`make` writes a file with the same tensors drawn the way BERT initialises them: matrices and
embeddings uniform with standard deviation 0.02, LayerNorm scales 1, biases and LayerNorm
shifts 0, integer buffers (position ids) counting up. Such a model runs exactly like the real
one (same shapes, same arithmetic, same speed) but is not the published one, so `make` leaves
`stand-in-weights.txt` beside the file: the backend suite then compares every backend with
flex on it, and none with Python's embeddings of the published weights.

Needs only the standard library (numpy is used when present, for speed).
"""

import json
import os
import random
import struct
import sys

try:
    import numpy
except ImportError:  # the build machine's bare python3
    numpy = None

SPREAD = 0.02 * 3**0.5  # uniform(-a, a) has standard deviation a / sqrt(3)
CHUNK = 1 << 20


def read_header(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(name, dtype, n, rng):
    """The bytes of tensor `name`: n values of `dtype`, drawn or set as BERT's init does."""
    if dtype in ("I64", "I32"):
        fmt = "q" if dtype == "I64" else "i"
        return struct.pack(f"<{n}{fmt}", *range(n))
    if dtype != "F32":
        sys.exit(f"{name}: stand-in weights are made for F32 tensors, not {dtype}")
    leaf = name.rsplit(".", 1)[-1]
    norm = "LayerNorm" in name or "layer_norm" in name or "norm" in name.lower()
    if leaf == "bias" or (norm and leaf in ("beta", "bias")):
        return bytes(4 * n)
    if norm and leaf in ("weight", "gamma"):
        return struct.pack("<f", 1.0) * n
    if numpy is not None:
        gen = numpy.random.default_rng(rng.getrandbits(63))
        return gen.uniform(-SPREAD, SPREAD, n).astype("<f4").tobytes()
    out = bytearray()
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        out += struct.pack(f"<{k}f", *(rng.uniform(-SPREAD, SPREAD) for _ in range(k)))
    return bytes(out)


def make(header, path, seed):
    meta = header.pop("__metadata__", None)
    names = sorted(header, key=lambda n: header[n]["data_offsets"][0])
    rng = random.Random(seed)
    tmp = path + ".partial"
    offset = 0
    blobs = []
    for name in names:
        t = header[name]
        blob = values(name, t["dtype"], count(t["shape"]), rng)
        t["data_offsets"] = [offset, offset + len(blob)]
        offset += len(blob)
        blobs.append(blob)
    if meta is not None:
        header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
    note = os.path.join(os.path.dirname(os.path.abspath(path)), "stand-in-weights.txt")
    with open(note, "w") as f:
        f.write(
            f"{os.path.basename(path)} holds stand-in weights drawn by "
            f"scripts/stand_in_weights.py (seed {seed}), not the published model's.\n"
        )
    print(f"make: {len(names)} tensors, {os.path.getsize(path)} bytes")


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "header":
        header = read_header(args[1])
        with open(args[2], "w") as f:
            json.dump(header, f)
    elif len(args) in (3, 4) and args[0] == "make":
        with open(args[1]) as f:
            header = json.load(f)
        make(header, args[2], int(args[3]) if len(args) == 4 else 0)
    else:
        sys.exit(__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1])


if __name__ == "__main__":
    main()
