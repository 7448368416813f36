#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed inputs, tests/fuzz/corpus/<name>/seed-*.

    tests/fuzz/make_seeds.py        (from the repository root)

Seeds are small valid (and a few almost valid) inputs in each harness's
input format (see the comment at the top of tests/fuzz/fuzz_<name>.c): the
configurations in configs/ and tests/configs/, overrides, net.layers
descriptions (those of the configurations and the grammar's examples), and
tiny IDX and CIFAR files. The fuzzers start from them; tools/fuzz.sh keeps them when it
minimises a corpus. Deterministic: running it again gives the same files.
"""
import glob
import gzip
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(name, seed, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + seed), "wb") as f:
        f.write(data)


def real_configs():
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.ini")) +
                       glob.glob(os.path.join(ROOT, "tests", "configs", "*.ini"))):
        with open(path, "rb") as f:
            yield os.path.relpath(path, ROOT).replace("/", "-"), f.read()


def config_seeds():
    for name, text in real_configs():
        if b"[sweep]" not in text:
            put("config", name, text)
    put("config", "edge-values",
        "[run]\nname = a;b\ndir = \nseed = 18446744073709551615\n"
        "[kh]\np = 0x1p+0\ndelta = -0\neps0 = 4.9406564584124654e-324\nhidden = 2147483647\n"
        "[data]\nset = cifar10 ; comment\n")
    put("config", "errors", "\xef\xbb\xbf[kh]\nk = 9\n  k = 3\n[nope]\nx\n")


def override_seeds():
    put("override", "every-kind",
        "kh.k=3\nkh.p = 4.5\nrun.seed=7\ndata.set=fashion\nlog.progress=0\n"
        "run.dir=runs/x\nkh.impl=naive\ncheckpoint.minutes=0.5\n")
    put("override", "errors", "kh.k\nkh.k=x\nnope.k=1\nkh.nope=1\n.=\nrun.seed=-1\n")


def sweep_seeds():
    for name, text in real_configs():
        if b"[sweep]" in text:
            put("sweep", name, text)
    put("sweep", "random-with-args",
        "[kh]\nhidden = 10\n[sweep]\nkh.k = 2..4\nreadout.n = 1, 2\nstrategy = random\n"
        "trials = 3\n\0sweep.repeats=2\nkh.epochs=3\n--slice 1/3\n")
    put("sweep", "tpe", "[sweep]\nkh.p = 2,3\nstrategy = tpe\ntrials = 5\ntpe_startup = 2\n"
        "group_size = 2\nconverge_tol = 0.5\ndir = sweeps/t\n")


def net_layers(text):
    """The value of [net] layers in INI text, continuation lines joined."""
    value, section, inside = None, None, False
    for line in text.decode().splitlines():
        if inside and line[:1] in (" ", "\t") and line.strip():
            value += " " + line.strip()
            continue
        inside = False
        m = re.match(r"\s*\[(.*)\]", line)
        if m:
            section = m.group(1)
        elif section == "net" and re.match(r"layers\s*=", line):
            value, inside = line.split("=", 1)[1].strip(), True
    return value


def net_seeds():
    for name, text in real_configs():
        layers = net_layers(text)
        if layers:
            put("net", name, layers)
    examples = {
        # include/plastic/nn/netspec.h
        "grammar-res": "dense 256 tanh, res( dense 256 tanh, dense 256 tanh ) x4, dense 10 softmax",
        "grammar-error": "conv 32 5x5 rleu",
        "convnet": "conv 32 5x5 relu, pool 2 s2, conv 64 3x3 s1 relu, pool 2, dense 10 softmax",
        "cifar": "conv 8 3x5 s2 elu, pool 3 s2, dropout 0.5, dense 100 linear",
        "nested": "res(conv 1 3x3 relu,res(conv 1 3x3 relu)), dense 10",
        "spacing": "  res(dense 4 tanh,dense   4\ttanh)x2 ,dense 10\n",
        "every-act": "dense 4 tanh, dense 4 relu, dense 4 elu, dense 4 sign, dense 4 logistic, "
                     "dense 4 clip, dense 4 linear, dense 2 softmax",
        "small-image": "conv 2 2x2 s2 relu, res( conv 2 1x1 tanh ) x2, pool 2, dense 2 clip",
        "errors": "dense 5 (tanh), res(dense 5) x0",
        "pconv": "pconv 16 m8 relu, pool 2, pconv 8 m2 n0.05 tanh, dense 10 softmax",
        "pconv-errors": "pconv 4 m0 n-1 ninf, pconv 4 m8 m2 relu n0.1 n0.2",
    }
    for name, text in examples.items():
        put("net", name, text)


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes((7 * i) % 256 for i in range(n * rows * cols))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_input(flags, images, labels, cut=128, cut_labels=128):
    return bytes([flags]) + struct.pack(">H", len(images)) + bytes([cut, cut_labels]) + images + labels


def idx_seeds():
    images, labels = idx_images(3, 2, 3), idx_labels([0, 9, 4])
    put("idx", "plain", idx_input(0, images, labels))
    put("idx", "gzip", idx_input(1 | 2, images, labels))
    put("idx", "gzip-cut", idx_input(1 | 4, images, labels, cut=200))
    put("idx", "gzip-damaged", idx_input(2 | 32, images, labels, cut_labels=100))
    put("idx", "bad-label", idx_input(0, images, idx_labels([0, 10, 4])))
    put("idx", "count-mismatch", idx_input(0, images, idx_labels([0, 1])))
    put("idx", "trailing", idx_input(0, images + b"\0", labels))
    # gzip files as they are on disk (the harness passes them through)
    put("idx", "gzip-files", idx_input(0, gzip.compress(images, mtime=0),
                                       gzip.compress(labels, mtime=0)))


def cifar_seeds():
    # compact: (label bytes + 1) input bytes per record
    put("cifar", "c10-compact", bytes([8]) + bytes([3, 0, 9, 1]))
    put("cifar", "c100-compact-2files", bytes([1 | 2 | 8]) + struct.pack(">H", 3) +
        bytes([1, 99, 5, 19, 0, 7]))
    put("cifar", "c10-raw", bytes([0]) + bytes([7]) + bytes(i % 256 for i in range(3072)))
    put("cifar", "c100-raw-bad-label", bytes([1]) + bytes([3, 100]) + bytes(3072))
    put("cifar", "bad-variant", bytes([8 | 128]) + bytes([3, 0]))
    put("cifar", "no-paths", bytes([8 | 64]) + bytes([3, 0]))


def curves_seeds():
    bp = [
        '{"event":"start","time":1796073790.498,"name":"bp-mnist","version":"0.1.0","rule":"bp",'
        '"nranks":1,"train":1500,"valid":500,"test":10000,"layers":"dense 256 relu, dense 10 softmax"}',
        '{"event":"epoch","time":1796073790.883,"phase":"train","epoch":1,"lr":0.001,'
        '"seconds":0.119,"loss":1.525081526,"train_error":40.6,"valid_error":18.8,"test_error":20.45}',
        '{"event":"epoch","time":1796073791.243,"phase":"train","epoch":2,"lr":0.0006666666667,'
        '"seconds":0.105,"loss":0.602203108,"train_error":13.6,"valid_error":null}',
        '{"event":"checkpoint","time":1796073791.963,"file":"ckpt_000002.h5","why":"done","step":30}',
        '{"event":"done","time":1796073791.963,"test_error":13.76,"valid_error":13.8,'
        '"train_error":10.73333333,"train_seconds":1.11,"seconds":1.46}',
    ]
    put("curves", "bp-run", "\n".join(bp) + "\n")
    kh = [
        '{"event":"start","rule":"kh","hidden":100,"dim":784}',
        '{"event":"epoch","phase":"kh","epoch":1,"lr":0.02,"sphere_mean":0.51,"never_won":3}',
        '{"event":"epoch","phase":"readout","epoch":1,"train_error":86.1,"valid_error":69.6}',
        '{"event":"epoch","phase":"readout","epoch":2,"train_error":57.7,"valid_error":45.6,'
        '"test_error":46.59}',
        '{"event":"resume","rule":"kh","checkpoint":"ckpt/ckpt_000002.h5","phase":"readout","epoch":1}',
        '{"event":"epoch","phase":"readout","epoch":2,"train_error":57.5,"valid_error":45.0,'
        '"test_error":46.2}',
        '{"event":"done","test_error":44.55}',
    ]
    put("curves", "kh-resumed", "\n".join(kh) + "\n")
    put("curves", "phases",
        '{"event":"epoch","phase":"b","epoch":2,"train_error":4}\n'
        '{"event":"epoch","phase":"a","epoch":1,"test_error":-1e999}\n'
        '{"event":"epoch","phase":"b","epoch":1,"train_error":1e308,"valid_error":-1e308}\n')
    put("curves", "strings",
        '{"event":"start","rule":"r\\u00e9c\\ud83d\\ude00\\n\\t\\"\\\\\\/","x":true,'
        '"y":false, "z" : -0.0e+00 }\r\n')
    put("curves", "errors",
        '{"event":"epoch","phase":"t","epoch":1.5,"train_error":3}\n{"a":[1]}\n{"a":"\\ud800"}\n{')


if __name__ == "__main__":
    config_seeds()
    override_seeds()
    sweep_seeds()
    net_seeds()
    idx_seeds()
    cifar_seeds()
    curves_seeds()
