#!/usr/bin/env python3
"""The cost model of block parallelism (docs/design.md 5.6): projects the
efficiency of rec-LRA and of backprop on a pipeline at P ranks from what
`make bench` measured for configs/bench-pipe.ini.

    tools/pipe_model.py BENCH.LOG [--ranks 2,8,32,128] [--chunk 25] [--cpu]

Inputs read from the log (tools/bench.sh's pipe part): each rule's time per
minibatch on one rank, split into forward, backward sweep and the rest;
and the time of one micro-batch's activations from stage 0 to stage 1 on
two ranks (a ping-pong: latency and bandwidth of the transport).

The model, per pipeline minibatch of B examples in m = B / chunk
micro-batches, S stages, G = P / S pipelines (each pipeline its own B:
weak scaling over the pipelines):
  - the net's units (the first dense layer, each res( ) block, the output)
    carry the rule's cost per example (multiply-adds: the cut's costs in
    src/rules/*/…_rule.c); one rank's measured times give seconds per unit
    of cost, for the whole step and for its forward (and backward sweep);
  - the stages are the cut that minimises the costliest stage (as
    nn/stages.c); c_s is stage s's compute, f_s its forward, b_s its
    backward sweep;
  - rec-LRA: T = max_s c_s + (S - 1)(mean f / m + tau): the first
    micro-batch's fill through S - 1 stages, then the costliest stage;
    the output's error streams back per micro-batch while the forward goes
    on, so no backward term;
  - backprop: T = max_s c_s + (S - 1)(mean f / m + tau)
                             + (S - 1)(mean b / m + tau): the backward sweep
    fills the pipeline again;
  - G > 1: each stage's increments are summed over the G pipelines
    (reduce-scatter and all-gather of its parameters, rec-LRA also an
    all-reduce of its synapses), 2 (G - 1) / G x bytes / bandwidth;
  - efficiency = T_1 / (S T): P ranks against one rank doing the G
    pipelines' examples in turn.
It ignores the rate mismatch of unequal stages after the fill, the e_L
messages (C floats per example), and contention between pipelines.
"""
import argparse
import re
import statistics
import sys

WIDTH, BLOCKS, INPUT, CLASSES, BATCH, CHUNK = 1024, 8, 784, 10, 100, 25
CPU = False


def units(rule):
    """(cost, forward cost, backward cost, parameters, synapse weights) per
    unit: the first dense layer, BLOCKS blocks, the output layer."""
    w, c = WIDTH, CLASSES
    first_f, block_f, out_f = INPUT * w, 2 * w * w + w, w * c
    out = []
    if rule == "reclra":
        # 2 x forward (forward, increment) + 2 x each synapse (d = E e, dE)
        out.append((2 * first_f + 2 * w * c, first_f, 0, INPUT * w + w, w * c))
        blk = 2 * block_f + 2 * w * w + 2 * w * c
        for _ in range(BLOCKS):
            out.append((blk, block_f, 0, 2 * (w * w + w), w * w + w * c))
        out.append((2 * out_f, out_f, 0, w * c + c, 0))
    else:
        # forward, weight gradient, input gradient (not for the first layer)
        out.append((2 * first_f, first_f, 0, INPUT * w + w, 0))
        for _ in range(BLOCKS):
            out.append((3 * block_f, block_f, block_f, 2 * (w * w + w), 0))
        out.append((3 * out_f, out_f, out_f, w * c + c, 0))
    return out


def cut(costs, S):
    """Stage boundaries minimising the costliest stage (earliest on ties)."""
    U = len(costs)
    pre = [0]
    for x in costs:
        pre.append(pre[-1] + x)
    best = [[None] * (U + 1) for _ in range(S + 1)]
    arg = [[0] * (U + 1) for _ in range(S + 1)]
    for j in range(U + 1):
        best[1][j] = pre[j]
    for k in range(2, S + 1):
        for j in range(k, U + 1):
            b, a = None, k - 1
            for i in range(k - 1, j):
                m = max(best[k - 1][i], pre[j] - pre[i])
                if b is None or m < b:
                    b, a = m, i
            best[k][j], arg[k][j] = b, a
    bounds, j = [U], U
    for k in range(S, 1, -1):
        j = arg[k][j]
        bounds.append(j)
    bounds.append(0)
    return bounds[::-1]


def parse(path):
    """Per rule: one rank's per-minibatch (total, forward, backward) in
    seconds, medians over epochs; tau (the fastest of the runs') and its
    floats from two ranks."""
    text = open(path).read()
    runs = re.split(r"^bench: ", text, flags=re.M)[1:]
    one, tau, floats = {}, [], None
    for run in runs:
        rule = run.split(",")[0]
        ranks = int(re.search(r"(\d+) rank\(s\)", run).group(1))
        rows = re.findall(r"rank 0 \(stage 0\) ([\d.]+) ms: compute ([\d.]+) ms \(forward ([\d.]+), "
                          r"backward sweep ([\d.]+).*?CPU outside waits ([\d.]+) ms", run)
        if ranks == 1 and rows:
            t, f, b, c = (statistics.median(float(r[i]) for r in rows) / 1e3 for i in (1, 2, 3, 4))
            if CPU:  # a core of its own: the CPU time, forward and sweep scaled alike
                f, b, t = f * c / t, b * c / t, c
            one[rule] = (t, f, b)
        for n, t in re.findall(r"activations \((\d+) floats\) stage 0 -> 1: ([\d.]+) ms", run):
            floats = int(n)
            tau.append(float(t) / 1e3)
    if not one or not tau:
        sys.exit("pipe_model: the log lacks one-rank per-minibatch lines or a message time")
    return one, min(tau), floats  # the fastest, as bench reports each run's


def project(rule, measured, tau, floats, S, G):
    """(efficiency, minibatch seconds) of S stages x G pipelines."""
    total, fwd, bwd = measured
    us = units(rule)
    cost = [u[0] for u in us]
    k = total / sum(cost)
    kf = fwd / sum(u[1] for u in us)
    kb = bwd / sum(u[2] for u in us) if sum(u[2] for u in us) else 0.0
    bandwidth = 4.0 * floats / tau  # bytes per second, from the ping-pong
    m = max(1, BATCH // CHUNK)
    b = cut(cost, S)
    stages = [us[b[s]:b[s + 1]] for s in range(S)]
    c = [k * sum(u[0] for u in st) for st in stages]
    f = sum(kf * sum(u[1] for u in st) for st in stages) / S
    bb = sum(kb * sum(u[2] for u in st) for st in stages) / S
    T = max(c) + (S - 1) * (f / m + tau)
    if rule == "bp":
        T += (S - 1) * (bb / m + tau)
    if G > 1:
        most = max(sum(4.0 * (u[3] + u[4]) for u in st) for st in stages)
        T += 2.0 * (G - 1) / G * most / bandwidth
    return total / (S * T), T


def main():
    global CHUNK, CPU
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log")
    ap.add_argument("--ranks", default="2,8,32,128")
    ap.add_argument("--chunk", type=int, default=CHUNK,
                    help="micro-batch rows of the projection (the measurement's: 25)")
    ap.add_argument("--cpu", action="store_true",
                    help="one rank's CPU time outside waits, not its wall time (a machine "
                         "shared with other work)")
    a = ap.parse_args()
    CHUNK, CPU = a.chunk, a.cpu
    one, tau, floats = parse(a.log)
    print(f"measured: one micro-batch's activations ({floats} floats) {tau * 1e3:.3f} ms "
          f"({4 * floats / tau / 1e9:.2f} GB/s)")
    for rule, (t, f, b) in one.items():
        print(f"measured: {rule} on one rank {t * 1e3:.1f} ms per minibatch of {BATCH} "
              f"(forward {f * 1e3:.1f}, backward sweep {b * 1e3:.1f}); "
              f"per block {t * units(rule)[1][0] / sum(u[0] for u in units(rule)) * 1e3:.1f} ms")
    rules = [r for r in ("reclra", "bp") if r in one]
    print("| ranks | stages x pipelines | " + " | ".join(
        f"{r} minibatch ms | {r} efficiency" for r in rules) + " |")
    print("|---|---|" + "---|---|" * len(rules))
    for P in [int(x) for x in a.ranks.split(",")]:
        for S in range(min(P, BLOCKS + 2), 0, -1):  # at most one stage per unit
            if P % S:
                continue
            cells = []
            for r in rules:
                eff, T = project(r, one[r], tau, floats, S, P // S)
                cells.append(f"{T * 1e3:.0f} | {eff:.2f}")
            print(f"| {P} | {S} x {P // S} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
