#!/usr/bin/env python3
"""shinso against JAX/XLA on one core: the host rows of issue #8, side by side.

    taskset -c 1 python3 bench/xla_side_by_side.py [--rounds 5]

Builds shinso's `side_by_side` bench target (core/benches/side_by_side.rs), then alternates
rounds (each side's figure is the median of its rounds): one run of that binary (every case), then every case in JAX, `--rounds` times, all on
the core this process is pinned to. XLA runs single-threaded (no intra-op thread pool, Eigen
single-threaded), each step jitted with its buffers donated. Prints the median time per call
of each side and the ratio shinso / XLA (below 1: shinso is faster), and the core's peak of
separate multiplies and adds as that binary's `--peak` loop measures it, with the vectors the
products use (16 lanes where the core has AVX-512; `--avx2` keeps them on 8), and each shinso
row's rate in GFLOP/s (two per multiply-add of its products, counted in MACS) as a share of it.

The networks are the same: the course MLP 784-40-20-10 (and 784-400 / 784-1000 first layers)
with ReLU and plain SGD (lr 0.1), simple-convnet (30 5x5 filters, ReLU, 2x2 max pool, 4320-100
ReLU, 100-10) and double-convnet (two 3x3 conv + ReLU + 2x2 pool blocks of 16 and 32 filters,
800-10) with Adam (lr 0.001), softmax cross-entropy averaged over the batch, as in
core/src/zoo.rs and host/src/presets.rs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BURSTS = 5
BURST_S = 0.06


def timed(f):
    """Median over BURSTS bursts of ~60 ms of one call of f (which blocks), in microseconds."""
    f()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < BURST_S:
        f()
        calls += 1
    bursts = []
    for _ in range(BURSTS):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        bursts.append((time.perf_counter() - start) * 1e6 / calls)
    return statistics.median(bursts)


def dense(key, i, o):
    return {"w": jax.random.normal(key, (i, o), jnp.float32) * (2.0 / i) ** 0.5,
            "b": jnp.zeros((o,), jnp.float32)}


def conv(key, c, f, k):
    return {"w": jax.random.normal(key, (f, c, k, k), jnp.float32) * (2.0 / (c * k * k)) ** 0.5,
            "b": jnp.zeros((f,), jnp.float32)}


def mlp(hidden):
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    params = [dense(keys[0], 784, hidden), dense(keys[1], hidden, 20), dense(keys[2], 20, 10)]

    def forward(p, x):
        x = x.reshape(x.shape[0], 784)
        for layer in p[:-1]:
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        return x @ p[-1]["w"] + p[-1]["b"]

    return params, forward


def conv_block(x, layer, pool=True):
    y = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "VALID",
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    y = jax.nn.relu(y + layer["b"][None, :, None, None])
    if pool:
        y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return y


def simple_convnet():
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    params = [conv(keys[0], 1, 30, 5), dense(keys[1], 4320, 100), dense(keys[2], 100, 10)]

    def forward(p, x):
        y = conv_block(x.reshape(x.shape[0], 1, 28, 28), p[0]).reshape(x.shape[0], 4320)
        y = jax.nn.relu(y @ p[1]["w"] + p[1]["b"])
        return y @ p[2]["w"] + p[2]["b"]

    return params, forward


def double_convnet():
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    params = [conv(keys[0], 1, 16, 3), conv(keys[1], 16, 32, 3), dense(keys[2], 800, 10)]

    def forward(p, x):
        y = conv_block(x.reshape(x.shape[0], 1, 28, 28), p[0])
        y = conv_block(y, p[1]).reshape(x.shape[0], 800)
        return y @ p[2]["w"] + p[2]["b"]

    return params, forward


def loss_fn(forward):
    def loss(p, x, t):
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(forward(p, x)), axis=1))
    return loss


def sgd_case(net, n, lr=0.1):
    params, forward = net
    grad = jax.value_and_grad(loss_fn(forward))

    def step(p, x, t):
        value, g = grad(p, x, t)
        return jax.tree_util.tree_map(lambda w, d: w - lr * d, p, g), value

    step = jax.jit(step, donate_argnums=(0,))
    return step, params


def adam_case(net, n, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    params, forward = net
    grad = jax.value_and_grad(loss_fn(forward))
    def zeros():
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    state = (params, zeros(), zeros(), jnp.zeros((), jnp.float32))

    def step(s, x, t):
        p, m, v, k = s
        value, g = grad(p, x, t)
        k = k + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        a = lr * jnp.sqrt(1 - b2 ** k) / (1 - b1 ** k)
        p = jax.tree_util.tree_map(lambda p, m, v: p - a * m / (jnp.sqrt(v) + eps), p, m, v)
        return (p, m, v, k), value

    return jax.jit(step, donate_argnums=(0,)), state


def data(n):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.random((n, 784), dtype=np.float32))
    t = jnp.asarray(np.eye(10, dtype=np.float32)[np.arange(n) % 10])
    return x, t


def train(make, net, n):
    step, state = make(net(), n)
    x, t = data(n)
    box = [state]

    def call():
        box[0], value = step(box[0], x, t)
        value.block_until_ready()

    return lambda: timed(call)


def infer(net, n):
    params, forward = net()
    f = jax.jit(forward)
    x, _ = data(n)
    return lambda: timed(lambda: f(params, x).block_until_ready())


CASES = {
    "train mlp 784-40-20-10 b1": train(sgd_case, lambda: mlp(40), 1),
    "train mlp 784-40-20-10 b10": train(sgd_case, lambda: mlp(40), 10),
    "train mlp 784-40-20-10 b100": train(sgd_case, lambda: mlp(40), 100),
    "train mlp 784-40-20-10 b1000": train(sgd_case, lambda: mlp(40), 1000),
    "train mlp 784-400-20-10 b100": train(sgd_case, lambda: mlp(400), 100),
    "train mlp 784-1000-20-10 b100": train(sgd_case, lambda: mlp(1000), 100),
    "train simple-convnet b100": train(adam_case, simple_convnet, 100),
    "train double-convnet b100": train(adam_case, double_convnet, 100),
    "infer mlp b1": infer(lambda: mlp(40), 1),
    "infer mlp b100": infer(lambda: mlp(40), 100),
    "infer simple-convnet b1": infer(simple_convnet, 1),
    "infer simple-convnet b100": infer(simple_convnet, 100),
}


def mlp_macs(h, train):
    """Multiply-adds per sample of the products of the MLP 784-h-20-10: the forward pass, and
    for training also every weight gradient and the input gradients of all but the first layer
    (whose input gradient neither side computes)."""
    forward = 784 * h + h * 20 + 20 * 10
    return 2 * forward + h * 20 + 20 * 10 if train else forward


# Multiply-adds per sample of each case's products (the matrix products and convolutions; the
# activations, pooling, losses and updates are not counted), for the GFLOP/s column.
SIMPLE = (30 * 24 * 24 * 25, 4320 * 100, 100 * 10)  # conv, affine, affine
DOUBLE = (16 * 26 * 26 * 9, 32 * 11 * 11 * 16 * 9, 800 * 10)
MACS = {
    "train mlp 784-40-20-10 b1": mlp_macs(40, True),
    "train mlp 784-40-20-10 b10": mlp_macs(40, True),
    "train mlp 784-40-20-10 b100": mlp_macs(40, True),
    "train mlp 784-40-20-10 b1000": mlp_macs(40, True),
    "train mlp 784-400-20-10 b100": mlp_macs(400, True),
    "train mlp 784-1000-20-10 b100": mlp_macs(1000, True),
    # forward, weight gradients, input gradients of all but the first layer
    "train simple-convnet b100": 2 * sum(SIMPLE) + SIMPLE[1] + SIMPLE[2],
    "train double-convnet b100": 2 * sum(DOUBLE) + DOUBLE[1] + DOUBLE[2],
    "infer mlp b1": mlp_macs(40, False),
    "infer mlp b100": mlp_macs(40, False),
    "infer simple-convnet b1": sum(SIMPLE),
    "infer simple-convnet b100": sum(SIMPLE),
}


def batch_of(name):
    return int(name.rsplit(" b", 1)[1])


def shinso_binary():
    out = subprocess.run(
        ["cargo", "bench", "-p", "shinso", "--bench", "side_by_side", "--no-run",
         "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "side_by_side" \
                and msg.get("executable"):
            return msg["executable"]
    sys.exit("side_by_side bench target not found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--avx2", action="store_true",
                    help="keep shinso's products on AVX2 even where the core has AVX-512")
    args = ap.parse_args()
    flags = ["--avx2"] if args.avx2 else []
    exe = shinso_binary()
    ours = {name: [] for name in CASES}
    theirs = {name: [] for name in CASES}
    for r in range(args.rounds):
        out = subprocess.run([exe, "--json"] + flags, check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            row = json.loads(line)
            ours[row["case"]].append(row["us"])
        for name, run in CASES.items():
            theirs[name].append(run())
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    peak = json.loads(subprocess.run([exe, "--peak", "--json"] + flags, check=True,
                                     capture_output=True, text=True).stdout)
    print(f"one core's peak, separate multiply and add in the products' {peak['lanes']}-lane "
          f"vectors: {peak['peak_gflops']:.1f} GFLOP/s (8 lanes: {peak['avx2_peak_gflops']:.1f})")
    print("| case | shinso µs | XLA µs | shinso / XLA | shinso GFLOP/s | of peak |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in CASES:
        a, b = statistics.median(ours[name]), statistics.median(theirs[name])
        gflops = 2 * MACS[name] * batch_of(name) / a / 1e3
        share = gflops / peak["peak_gflops"]
        print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} | {gflops:.1f} | {share:.0%} |")


if __name__ == "__main__":
    main()
