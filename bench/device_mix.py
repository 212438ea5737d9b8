#!/usr/bin/env python3
"""Instructions, instruction mix and estimated Cortex-M4 cycles per layer of the device's nets.

Runs the firmware's `kernel-bench` (firmware/src/bench.rs) under QEMU twice over in one go:
the bench prints, over its serial port, the instructions the firmware's own counter measured
for each layer; QEMU, with `-singlestep -d exec,nochain`, logs every instruction it executes
(one translation block per instruction), which this script reads through a FIFO. The stretch
of each measurement lies between two calls of `Counter::ticks` (never inlined), so the log
gives, per measurement, an independent instruction count and the executed mix: each logged
address is looked up in the ELF's disassembly (`llvm-objdump -d`), and a branch counts as taken
when the next address is not the one after it.

Cycles are estimated from that mix with the Cortex-M4 TRM's counts (ARM DDI 0439, table 3-1,
and the FPU's table 7-1), without wait states or load/store pipelining:
  data processing, IT, MUL, VADD/VSUB/VMUL/VNEG/VABS/VCMP/VMOV/VCVT/VMRS: 1
  MLA/MLS: 2; SDIV/UDIV: 2-12, counted 7
  LDR*/STR* (single): 2; LDRD/STRD: 3; LDM/STM/PUSH/POP and VLDM/VSTM/VPUSH/VPOP: 1 + N
  (+2 for a POP that loads PC); VLDR/VSTR: 2
  branches: 1 not taken, 3 taken (1 + P with a refill P of 2); BL: 3
  VMLA/VMLS/VFMA/VFMS: 3; VDIV/VSQRT: 14

Usage (from the repository root; needs qemu-system-arm and llvm-objdump):
  (cd firmware && cargo build --release --features qemu --bin kernel-bench)
  python3 bench/device_mix.py [firmware/target/thumbv7em-none-eabihf/release/kernel-bench]
Prints a Markdown table; about a minute.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile
import threading

ELF = "firmware/target/thumbv7em-none-eabihf/release/kernel-bench"
QEMU = [
    "qemu-system-arm", "-machine", "netduinoplus2", "-display", "none", "-monitor", "none",
    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
]
CLOCK_HZ = 168e6


def disassemble(elf):
    """Address -> (mnemonic, operands, address of the next instruction); and ticks' range."""
    out = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", elf],
                         check=True, capture_output=True, text=True).stdout
    insns = []
    line_re = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
    for line in out.splitlines():
        m = line_re.match(line)
        if m and not m.group(2).startswith("<"):
            insns.append((int(m.group(1), 16), m.group(2), m.group(3)))
    table = {}
    for (a, mn, ops), nxt in zip(insns, insns[1:] + [(None, None, None)]):
        table[a] = (mn, ops, nxt[0])
    syms = subprocess.run(["llvm-objdump", "-t", elf], check=True, capture_output=True,
                          text=True).stdout
    for line in syms.splitlines():
        if "Counter5ticks" in line:
            f = line.split()
            start, size = int(f[0], 16), int(f[-2], 16)
            return table, (start, start + size)
    sys.exit("no Counter::ticks symbol in " + elf)


def base(mn):
    """The mnemonic without condition, width or type suffixes: 'vmul.f32' -> 'vmul'."""
    return mn.split(".")[0]


BRANCHES = re.compile(r"^(b|bl|blx|bx|cbz|cbnz|tbb|tbh)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?$")


def registers(ops):
    """Number of registers in a {..} list, ranges like {s0-s3} counted in full."""
    m = re.search(r"\{([^}]*)\}", ops)
    if not m:
        return 1
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        r = re.match(r"[a-z]+(\d+)\s*-\s*[a-z]+(\d+)", part)
        n += int(r.group(2)) - int(r.group(1)) + 1 if r else 1
    return n


def cycles(mn, ops, taken):
    b = base(mn)
    if BRANCHES.match(b):
        if b in ("bl", "blx"):
            return 3
        return 3 if taken else 1
    if b in ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"):
        return 3
    if b in ("vdiv", "vsqrt"):
        return 14
    if b in ("vldr", "vstr"):
        return 2
    if b in ("vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop", "vldm", "vstm"):
        return 1 + registers(ops)
    if b in ("ldm", "ldmia", "ldmdb", "stm", "stmia", "stmdb", "push", "pop"):
        n = registers(ops)
        return 1 + n + (2 if b == "pop" and "pc" in ops else 0)
    if b in ("ldrd", "strd"):
        return 3
    if re.match(r"^(ldr|str)(b|h|sb|sh|ex|t)?(eq|ne|gt|lt|ge|le|hi|ls|cs|cc|mi|pl)?$", b):
        return 2
    if b in ("mla", "mls"):
        return 2
    if b in ("sdiv", "udiv"):
        return 7
    return 1


def group(mn):
    """Coarse classes for the mix columns."""
    b = base(mn)
    if b in ("vmul", "vadd", "vsub"):
        return "fp mul/add"
    if b in ("vldr", "vldmia", "vldmdb", "vldm", "vpop"):
        return "fp load"
    if b in ("vstr", "vstmia", "vstmdb", "vstm", "vpush"):
        return "fp store"
    if b.startswith("v"):
        return "fp other"
    if b.startswith("ldr") or b.startswith("ldm") or b == "pop":
        return "load"
    if b.startswith("str") or b.startswith("stm") or b == "push":
        return "store"
    if BRANCHES.match(b):
        return "branch"
    return "integer"


GROUPS = ["fp mul/add", "fp load", "fp store", "fp other", "load", "store", "integer", "branch"]


def trace(elf, fifo):
    """Per stretch between two calls of `Counter::ticks`: [instructions, mix, cycles]."""
    table, (t0, t1) = disassemble(elf)
    regions, cur, pending, in_ticks = [], None, None, False
    pc_re = re.compile(rb"\[[0-9a-f]+/([0-9a-f]+)/")
    with open(fifo, "rb") as log:
        for line in log:
            m = pc_re.search(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if pending:
                # The previous instruction's cost: now we know whether it branched.
                region, mn, ops, nxt = pending
                region[2] += cycles(mn, ops, pc != nxt)
                pending = None
            inside = t0 <= pc < t1
            if inside:
                if cur is not None:
                    regions.append(cur)
                    cur = None
            else:
                if in_ticks:
                    cur = [0, collections.Counter(), 0]
                if cur is not None:
                    mn, ops, nxt = table.get(pc, ("?", "", None))
                    cur[0] += 1
                    cur[1][group(mn)] += 1
                    pending = (cur, mn, ops, nxt)
            in_ticks = inside
    return regions


def main():
    elf = sys.argv[1] if len(sys.argv) > 1 else ELF
    tmp = tempfile.mkdtemp(prefix="shinso-mix-")
    fifo = os.path.join(tmp, "exec.log")
    os.mkfifo(fifo)
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault("regions", trace(elf, fifo)))
    reader.start()
    run = subprocess.run(QEMU + ["-serial", "stdio", "-singlestep", "-d", "exec,nochain",
                                 "-D", fifo, "-kernel", elf],
                         capture_output=True, text=True, timeout=1800)
    reader.join()
    os.unlink(fifo)
    os.rmdir(tmp)
    rows = [l.split("\t") for l in run.stdout.splitlines()[1:] if "\t" in l]
    # Gaps alternate: a measurement, then the printing and setup before the next one.
    regions = result["regions"][0::2]
    print("| layer | instructions (counter) | instructions (trace) | MACs | per MAC | "
          + " | ".join(GROUPS) + " | est. cycles | cycles / MAC | ms at 168 MHz |")
    print("|---" * (8 + len(GROUPS)) + "|")
    for (name, count, macs), (n, mix, cyc) in zip(rows, regions):
        count, macs = int(count), int(macs)
        mixes = " | ".join(f"{100 * mix[g] / n:.0f}%" for g in GROUPS)
        print(f"| {name} | {count:,} | {n:,} | {macs:,} | {count / macs:.2f} | {mixes} | "
              f"{cyc:,} | {cyc / macs:.2f} | {1e3 * cyc / CLOCK_HZ:.2f} |")


if __name__ == "__main__":
    main()
