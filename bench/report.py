#!/usr/bin/env python3
"""Runs the benches in one go and writes bench/REPORT.md and its plots.

`make bench-report` (or `python3 bench/report.py [bench ...]` from the
repository root, after `make lib` for the c_api bench and `make python` for
the Python one). The benches' tables are copied as printed (the spsc, mpsc
and c_api benches run in paired rounds, `RINGMPSC_BENCH_ROUNDS`). Each
bench also writes its figures as JSON lines to the file named by
RINGMPSC_BENCH_DATA, from which the plots (SVG, bench/plots/) are drawn.
The machine, date and core-to-core probe go on top. Standard library only.
"""

import datetime
import json
import os
import re
import subprocess
import sys

import plot

BENCHES = ["latency", "spsc", "mpsc", "mpsc-unpinned", "c_api", "ipc", "log", "transport", "python"]
# Benches of peers run in paired rounds (ringcore/benches/support/groups.rs)
# rather than under criterion: the machine's state moves within seconds, and
# criterion times one peer for seconds before the next.
PAIRED = {"spsc", "mpsc", "mpsc-unpinned", "c_api"}
PAIRED_ROUNDS = "12"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "REPORT.md")
PLOTS = os.path.join(ROOT, "bench", "plots")
DATA = os.path.join(ROOT, "target", "bench-report.jsonl")


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


# The Python bench runs on the module installed by `make python`.
PYTHON_BENCH = os.path.join("python", "examples", "bench_ipc.py")
VENV_PYTHON = os.path.join(ROOT, "build", "venv", "bin", "python")


def run(bench):
    """Runs one bench; returns (exit status, its standard output)."""
    cargo = os.environ.get("CARGO", "cargo")
    env = dict(os.environ, RINGMPSC_BENCH_DATA=DATA)
    if bench in PAIRED:
        env["RINGMPSC_BENCH_ROUNDS"] = PAIRED_ROUNDS
    if bench == "python":
        if not os.path.exists(VENV_PYTHON):
            return 1, "(no build/venv: `make python` installs the module first)\n"
        cmd = [VENV_PYTHON, PYTHON_BENCH]
    elif bench == "mpsc-unpinned":
        # The mpsc bench with no thread pinned, in groups of their own.
        bench, env["RINGMPSC_BENCH_UNPINNED"] = "mpsc", "1"
        cmd = [cargo, "bench", "-p", "ringcore", "--bench", bench, "--", "_unpinned"]
    else:
        cmd = [cargo, "bench", "-p", "ringcore", "--bench", bench]
    print("==", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    sys.stdout.write(p.stdout)
    return p.returncode, p.stdout


def probe_now():
    """The core-to-core probe measured now (`ringmpsc probe`)."""
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "run", "-q", "--release", "-p", "ringmpsc-cli", "--", "probe", "-n", "20000"]
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"core-to-core probe.*", p.stdout)
    return m.group(0).strip() if m else "core-to-core probe failed"


# Plot data: {plot: {series: [(x, y)]}}, from the benches' JSON lines.
SERIES = {}


def record(plot_name, series, x, y):
    SERIES.setdefault(plot_name, {}).setdefault(series, []).append((x, y))


def read_data():
    try:
        with open(DATA) as f:
            for line in f:
                d = json.loads(line)
                record(d["plot"], d["series"], d["x"], d["y"])
    except FileNotFoundError:
        pass


# How each plot is drawn: (title, x label, y label, x scale, y scale), by
# the start of its name.
PLOT_STYLES = [
    ("inproc-rtt", ("In-process round trip", "quantile", "ns", "nines", "log")),
    ("ipc-rtt", ("Cross-process round trip, 64 B", "quantile", "ns", "nines", "log")),
    ("transport-rtt", ("Transport round trip, 64 B", "quantile", "ns", "nines", "log")),
    ("log-latency", ("Log writer-to-reader latency, 64 B every 10 us", "quantile", "ns", "nines", "log")),
    ("ipc-throughput", ("Cross-process one way", "message size (bytes)", "messages/s", "log", "log")),
    ("log-append", ("Log append with a live reader", "record size (bytes)", "records/s", "log", "log")),
    ("transport-throughput", ("Transport requests", "clients", "messages/s", "linear", "linear")),
    ("mpsc", ("MPSC", "producers", "items/s", "linear", "linear")),
    ("c_api_mpsc", ("MPSC from C producers", "producers", "items/s", "linear", "linear")),
    ("spsc_single_work", ("SPSC, the consumer working on each item", "steps of work per item", "items/s", "log", "log")),
]


def draw_plots():
    """Writes one SVG per plot; returns their file names."""
    os.makedirs(PLOTS, exist_ok=True)
    for old in os.listdir(PLOTS):
        if old.endswith(".svg"):
            os.remove(os.path.join(PLOTS, old))
    written = []
    for name in sorted(SERIES):
        style = next((s for prefix, s in PLOT_STYLES if name.startswith(prefix)), None)
        if style is None:
            continue
        title, xl, yl, xs, ys = style
        svg = plot.chart("%s (%s)" % (title, name), SERIES[name], xl, yl, xs, ys)
        if svg:
            fname = name + ".svg"
            with open(os.path.join(PLOTS, fname), "w") as f:
                f.write(svg)
            written.append(fname)
    return written


def probe(outputs):
    """The core-to-core probe lines: the latency bench's (two pinned
    threads) and the ipc bench's bare atomic floor (two processes)."""
    lines = []
    m = re.search(r"core-to-core probe.*", outputs.get("latency", ""))
    if m:
        lines.append(m.group(0).strip())
    m = re.search(r"^\| bare atomic \(floor\) \| ([^|]+)\| ([^|]+)\|", outputs.get("ipc", ""), re.M)
    if m:
        lines.append(
            "cross-process bare atomic ping-pong p50 / p99: %s / %s"
            % (m.group(1).strip(), m.group(2).strip())
        )
    return lines


def main():
    benches = sys.argv[1:] or BENCHES
    outputs, failed = {}, []
    if os.path.exists(DATA):
        os.remove(DATA)
    probes = {}
    for b in benches:
        # The machine's state moves within a run: a probe beside each bench.
        probes[b] = probe_now()
        status, out = run(b)
        outputs[b] = out
        if status != 0:
            failed.append(b)
    read_data()
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
        md += ["", "## %s" % b, "", "Just before it, the %s." % probes[b], ""]
        if b in failed:
            md += ["(the bench failed; its output so far follows)", ""]
        md.append(outputs[b].strip() or "(no output)")
    plots = draw_plots()
    if plots:
        md += ["", "## plots", ""]
        md += ["![%s](plots/%s)" % (p[:-4], p) for p in plots]
    with open(OUT, "w") as f:
        f.write("\n".join(md) + "\n")
    print("wrote", os.path.relpath(OUT, ROOT))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
