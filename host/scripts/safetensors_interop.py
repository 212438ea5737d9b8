#!/usr/bin/env python3
"""Read and write shinso's safetensors files with nothing but the Python standard library.

This is the documented layout checked from outside Rust (see host/README.md, "Model files"):

    forward MODEL DATA_DIR N   run an MLP preset's forward pass in plain Python on the first N
                               test images of DATA_DIR and print "correct C of N"
    strip MODEL OUT            rewrite MODEL as a foreign tool would: only the affine tensors,
                               as F64, no metadata (batch-norm tensors and metadata are optional)

With NumPy the same reads are `numpy.frombuffer(data[begin:end], '<f4').reshape(shape)`; a
PyTorch `nn.Linear(i, o).weight` is `(o, i)`: transpose it to shinso's `(i, o)`.
"""
import gzip
import json
import math
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        fmt = {"F32": "f", "F64": "d"}[info["dtype"]]
        count = (end - begin) // struct.calcsize(fmt)
        tensors[name] = (info["shape"], list(struct.unpack("<%d%s" % (count, fmt), data[begin:end])))
    return meta, tensors


def write_safetensors(path, tensors, meta=None):
    """tensors: name -> (shape, values); written as F64."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = struct.pack("<%dd" % len(values), *values)
        header[name] = {"dtype": "F64", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">%dI" % ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


ACT = {
    "relu": lambda v: v if v > 0 else 0.0,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": math.tanh,
    "identity": lambda v: v,
    "step": lambda v: 1.0 if v > 0 else 0.0,
}


def forward(meta, tensors, x):
    """An MLP preset: layers are affine, then (if present) batchnorm, activation, dropout."""
    act = ACT[meta.get("activation", "relu")]
    bn_on = meta.get("batch_norm") == "true"
    keep = 1.0 - float(meta.get("dropout", "0"))
    layers = sorted({int(k.split(".")[0]) for k in tensors})
    kinds = {i: next(k.split(".")[1] for k in tensors if k.startswith("%d." % i)) for i in layers}
    affines = [i for i in layers if kinds[i] == "affine"]
    for i in affines:
        (n_in, n_out), w = tensors["%d.affine.weight" % i]
        _, b = tensors["%d.affine.bias" % i]
        # w is (inputs, outputs), row-major: w[r * n_out + c]
        y = list(b)
        for r, xr in enumerate(x):
            if xr != 0.0:
                row = w[r * n_out : (r + 1) * n_out]
                for c in range(n_out):
                    y[c] += xr * row[c]
        x = y
        if i == affines[-1]:
            return x
        if bn_on and kinds.get(i + 1) == "batchnorm":
            g = tensors["%d.batchnorm.gamma" % (i + 1)][1]
            be = tensors["%d.batchnorm.beta" % (i + 1)][1]
            mu = tensors["%d.batchnorm.running_mean" % (i + 1)][1]
            var = tensors["%d.batchnorm.running_var" % (i + 1)][1]
            x = [g[c] * (x[c] - mu[c]) / math.sqrt(var[c] + 1e-7) + be[c] for c in range(len(x))]
        x = [act(v) * keep for v in x]
    return x


def main(argv):
    if len(argv) == 5 and argv[1] == "forward":
        meta, tensors = read_safetensors(argv[2])
        data_dir, n = argv[3], int(argv[4])
        name = lambda base: data_dir + "/" + base + (".gz" if open_ok(data_dir + "/" + base + ".gz") else "")
        (count, rows, cols), pixels = read_idx(name("t10k-images-idx3-ubyte"))
        _, labels = read_idx(name("t10k-labels-idx1-ubyte"))
        p = rows * cols
        correct = 0
        for k in range(min(n, count)):
            x = [v / 255.0 for v in pixels[k * p : (k + 1) * p]]
            y = forward(meta, tensors, x)
            correct += max(range(len(y)), key=lambda c: y[c]) == labels[k]
        print("correct %d of %d" % (correct, min(n, count)))
    elif len(argv) == 4 and argv[1] == "strip":
        _, tensors = read_safetensors(argv[2])
        kept = {k: v for k, v in tensors.items() if ".affine." in k}
        write_safetensors(argv[3], kept)
        print("wrote %s (%d tensors, F64, no metadata)" % (argv[3], len(kept)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


def open_ok(path):
    try:
        open(path, "rb").close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv))
