#!/usr/bin/env python3
"""The packager benches' tree, the same bytes every run: 2,000 text files of
~9 KiB in 40 folders and 6 binary-like files of 14 MiB (half a repeated 1 MiB
block, half noise: they compress like a binary). Writes ./tree (or argv[1]).
With "small" as argv[2]: 20,000 text files of 100 bytes to 3 KiB in 200
folders instead (~30 MiB), the many-small-files case."""
import os, random, sys

out = sys.argv[1] if len(sys.argv) > 1 else "tree"
random.seed(7)
words = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(2, 9))) for _ in range(5000)]
if len(sys.argv) > 2 and sys.argv[2] == "small":
    for i in range(20000):
        d = f"{out}/src/m{i % 200}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/f{i}.txt", "w") as f:
            f.write(" ".join(random.choice(words) for _ in range(random.randint(20, 500))))
    sys.exit(0)
for i in range(2000):
    d = f"{out}/src/m{i % 40}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i}.txt", "w") as f:
        f.write(" ".join(random.choice(words) for _ in range(1500)))
os.makedirs(f"{out}/bin", exist_ok=True)
for j in range(6):
    block = random.randbytes(1 << 20)
    with open(f"{out}/bin/blob{j}", "wb") as f:
        for k in range(14):
            f.write(block if k % 2 else random.randbytes(1 << 20))
