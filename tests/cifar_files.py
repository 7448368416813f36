"""Writes small files in CIFAR-10's binary format for the integration tests
(CIFAR itself is not reachable here): data_batch_1.bin .. data_batch_5.bin
of N records each and test_batch.bin of M, 3073 bytes per record (the label,
then 32 x 32 red, green, blue). Each class is a bright square at its own
place and colour, in noise, so a net can learn it in a few epochs.
usage: python3 tests/cifar_files.py DIR [N [M]]"""
import os
import random
import sys


def write(path, n, rng):
    with open(path, "wb") as f:
        for _ in range(n):
            c = rng.randrange(10)
            img = bytearray(rng.randrange(0, 96) for _ in range(3072))
            y0, x0 = 2 + 10 * (c // 4), 2 + 8 * (c % 4)
            for y in range(y0, y0 + 8):
                for x in range(x0, x0 + 6):
                    img[(c % 3) * 1024 + y * 32 + x] = 255
            f.write(bytes([c]) + img)


def main():
    d = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    m = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    os.makedirs(d)
    rng = random.Random(7)
    for i in range(1, 6):
        write(os.path.join(d, f"data_batch_{i}.bin"), n, rng)
    write(os.path.join(d, "test_batch.bin"), m, rng)


main()
