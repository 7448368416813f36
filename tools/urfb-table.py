#!/usr/bin/env python3
"""Table 1 of Amit's paper from a folder of runs: for each network prefix
(e.g. mlp-mnist, simp-fashion-untied) the rows BP softmax, BP hinge, URFB,
FRFB, URFB 50%, FRFB 50% with the last epoch's training error (the running
error of its minibatches, before each step, with dropout where the net has
it) and the test error, mean +- SD over the seeds found.

Runs are directories PREFIX-ROW-sSEED holding metrics.jsonl (the last line
the `done` record), ROW one of bpsoft, bphinge, urfb, frfb, urfb50, frfb50.
usage: tools/urfb-table.py RUNS_DIR PREFIX..."""
import json
import os
import statistics
import sys

ROWS = [("bpsoft", "BP softmax"), ("bphinge", "BP hinge"), ("urfb", "URFB"), ("frfb", "FRFB"),
        ("urfb50", "URFB 50%"), ("frfb50", "FRFB 50%")]


def done_record(run):
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    rec = json.loads(lines[-1]) if lines else {}
    return rec if rec.get("event") == "done" else None


def cell(values):
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} ({len(values)})"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, prefixes = sys.argv[1], sys.argv[2:]
    print("| | " + " | ".join(f"{p} train | {p} test" for p in prefixes) + " |")
    print("|---|" + "---|---|" * len(prefixes))
    for key, label in ROWS:
        cells = []
        for p in prefixes:
            train, test = [], []
            for name in sorted(os.listdir(root)):
                if not name.startswith(f"{p}-{key}-s"):
                    continue
                rec = done_record(os.path.join(root, name))
                if rec:
                    train.append(rec["train_error"])
                    test.append(rec["test_error"])
            cells += [cell(train), cell(test)]
        print(f"| {label} | " + " | ".join(cells) + " |")


main()
