#!/usr/bin/env python3
"""Runs the benches in one go and writes bench/REPORT.md.

`make bench-report` (or `python3 bench/report.py [bench ...]` from the
repository root, after `make lib` for the c_api bench). Each bench's tables
are copied as printed; the machine, date and core-to-core probe go on top.
Standard library only.
"""

import datetime
import os
import re
import subprocess
import sys

BENCHES = ["spsc", "channels", "c_api", "ipc", "log", "transport"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "REPORT.md")


def machine():
    """CPU model and logical core count from /proc/cpuinfo."""
    model, cores = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "processor":
                    cores += 1
                elif key == "model name" and model == "unknown":
                    model = value.strip()
    except OSError:
        pass
    return model, cores or os.cpu_count() or 0


def run(bench):
    """Runs one bench; returns (exit status, its standard output)."""
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "bench", "-p", "ringcore", "--bench", bench]
    print("==", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(p.stdout)
    return p.returncode, p.stdout


def probe(outputs):
    """The core-to-core probe: c_api's probe line, else the bare atomic
    ping-pong row of spsc (both between the same two pinned threads)."""
    lines = []
    for out in outputs.values():
        m = re.search(r"core-to-core probe.*", out)
        if m:
            lines.append(m.group(0).strip())
            break
    spsc = outputs.get("spsc", "")
    m = re.search(r"^\| bare atomic \(floor\) \| ([^|]+)\| ([^|]+)\|", spsc, re.M)
    if m:
        lines.append(
            "spsc bare atomic ping-pong p50 / p99: %s / %s"
            % (m.group(1).strip(), m.group(2).strip())
        )
    ipc = outputs.get("ipc", "")
    m = re.search(r"^\| bare atomic \(floor\) \| ([^|]+)\| ([^|]+)\|", ipc, re.M)
    if m:
        lines.append(
            "cross-process bare atomic ping-pong p50 / p99: %s / %s"
            % (m.group(1).strip(), m.group(2).strip())
        )
    return lines


def main():
    benches = sys.argv[1:] or BENCHES
    outputs, failed = {}, []
    for b in benches:
        status, out = run(b)
        outputs[b] = out
        if status != 0:
            failed.append(b)
    model, cores = machine()
    now = datetime.datetime.now(datetime.timezone.utc)
    load = ""
    try:
        load = open("/proc/loadavg").read().split()[:3]
        load = " / ".join(load)
    except OSError:
        pass
    md = ["# ringmpsc bench report", ""]
    md.append("- machine: %s, %d logical cores" % (model, cores))
    md.append("- date: %s" % now.strftime("%Y-%m-%d %H:%M UTC"))
    if load:
        md.append("- load average (1 / 5 / 15 min) at the end: %s" % load)
    for line in probe(outputs):
        md.append("- " + line)
    md.append("")
    md.append(
        "Every figure is from this one run; compare the ratios within a "
        "table, not the absolute rates between runs or machines."
    )
    for b in benches:
        md += ["", "## %s" % b, ""]
        if b in failed:
            md += ["(the bench failed; its output so far follows)", ""]
        md.append(outputs[b].strip() or "(no output)")
    with open(OUT, "w") as f:
        f.write("\n".join(md) + "\n")
    print("wrote", os.path.relpath(OUT, ROOT))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
