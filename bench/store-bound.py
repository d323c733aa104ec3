#!/usr/bin/env python3
"""How close can a store of independently fetched chunks get to one solid
`tar | zstd` stream? An estimate with python-zstandard and python-fastcdc
(not Quince's code, which it imitates): a tree's files of at least 64 KiB cut
by content at 512 KiB on average (64 KiB to 1 MiB), the smaller files joined
in path order into shared chunks of at least 512 KiB, and then each chunk
compressed three ways at one level:
  alone     - as the store does now: any chunk decodes by itself;
  prefix    - against the plaintext of the chunk before it (same file, or
              the shared chunk before): a one-chunk chain, a format change;
  whole     - each large file as one stream and all small files as one
              (the bound for any layout that keeps files apart).
Equal chunks are counted once (alone: by content; prefix: by content and the
chunk before). Usage: store-bound.py TREE LEVEL; prints compressed bytes."""
import hashlib, os, sys
import fastcdc, zstandard as zstd

root, level = sys.argv[1], int(sys.argv[2])
KIB = 1024


def size(data, prefix=None):
    if prefix is None:
        return len(zstd.ZstdCompressor(level=level).compress(data))
    dic = zstd.ZstdCompressionDict(prefix, dict_type=zstd.DICT_TYPE_RAWCONTENT)
    return len(zstd.ZstdCompressor(level=level, dict_data=dic).compress(data))


paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
small, seen_alone, seen_prefix = [], set(), set()
alone = prefix = whole = chunks = 0


def add(chunk, before):
    global alone, prefix, chunks
    key = hashlib.sha256(chunk).digest()
    if key not in seen_alone:
        seen_alone.add(key)
        alone += size(chunk)
    pkey = (key, hashlib.sha256(before or b"").digest())
    if pkey not in seen_prefix:
        seen_prefix.add(pkey)
        prefix += size(chunk, before)
    chunks += 1


for path in paths:
    data = open(path, "rb").read()
    if len(data) < 64 * KIB:
        small.append(data)
        continue
    before = None
    for c in fastcdc.fastcdc(data, min_size=64 * KIB, avg_size=512 * KIB, max_size=1024 * KIB):
        chunk = data[c.offset:c.offset + c.length]
        add(chunk, before)
        before = chunk
    whole += size(data)
group, held, before = [], 0, None
for i, data in enumerate(small):
    group.append(data)
    held += len(data)
    if held >= 512 * KIB or i == len(small) - 1:
        chunk = b"".join(group)
        add(chunk, before)
        before, group, held = chunk, [], 0
whole += size(b"".join(small)) if small else 0
print(f"{len(paths)} files, {chunks} chunks: alone {alone} prefix {prefix} whole {whole}")
