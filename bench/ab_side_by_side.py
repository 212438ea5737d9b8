#!/usr/bin/env python3
"""Two builds of the `side_by_side` bench target against each other, on the quiet CPU.

    python3 bench/ab_side_by_side.py OLD NEW [ROUNDS] [CASE FILTER...]

OLD and NEW are copies of `target/release/deps/side_by_side-*` from two checkouts. They run
alternately, ROUNDS times each (default 2), through `bench/quiet_cpu1.py`; the table gives the
best time of each per case and their ratio.
"""
import json, os, subprocess, sys
old, new = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
filt = sys.argv[4:]
d = {}
for _ in range(rounds):
    for tag, b in (("old", old), ("new", new)):
        out = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "quiet_cpu1.py"), b, "--json"] + filt, capture_output=True, text=True).stdout
        for l in out.splitlines():
            o = json.loads(l); d.setdefault(o["case"], {}).setdefault(tag, []).append(o["us"])
for c, x in d.items():
    o, n = min(x["old"]), min(x["new"])
    print(f"{c:<32} old {o:10.1f} new {n:10.1f}  new/old {n/o:.2f}")
