"""Builds a Muse repository of the seed's shape with the real client.

Run with the client's own Python (the interpreter of MUSE_CLI_PATH):

    python bench/muse_seed.py DIR --commits 1035 --files 350 --objects 5165 \
        --mean-bytes 9100 --seed 1 [--prefix-dir DIR2 --prefix-pack-bytes N]

Every commit is `muse commit` through the client's own entry point
(`muse.cli.app.main`, what the `muse` script calls), in this one interpreter:
a process per commit costs ≈ 1.2 s of interpreter start and imports alone on
this machine (`muse --version`), ≈ 35 min for the seed's 1,035 commits; here a
commit costs what its own work costs. Files are written as a user's tools
would write them, between commits.

Deterministic content: paths, sizes, which files change and every byte come
from random.Random(seed); commit ids differ between builds only because each
commit records its own time (`committed_at`). Shape as the seed preset of
`bundle-index generate`: `files` files in every snapshot, the first commit
adds them all, each later commit rewrites a few (about
(objects - files) / (commits - 1) on average), sizes log-uniform with a mean of
`mean-bytes` (200 B to ≈ 70 KB), a linear history on `main`.

With --prefix-dir, the repository is also copied there as it stands after
the last commit whose whole-history pack (every commit, every full manifest,
every object, as the hub's /fetch answers a clone) is estimated under
--prefix-pack-bytes: the Muse client refuses any answer over 64 MiB, so a
clone of the whole seed-shaped history cannot work, and the bench clones
this prefix instead.

Prints one JSON line of figures at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import time

from muse.cli.app import main as muse_main


def muse(*argv: str) -> None:
    try:
        muse_main(list(argv))
    except SystemExit as e:
        if e.code not in (None, 0):
            raise RuntimeError(f"muse {' '.join(argv)} exited {e.code}") from None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--commits", type=int, default=1035)
    ap.add_argument("--files", type=int, default=350)
    ap.add_argument("--objects", type=int, default=5165)
    ap.add_argument("--mean-bytes", type=int, default=9100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix-dir")
    ap.add_argument("--prefix-pack-bytes", type=int, default=0)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    root = os.path.abspath(a.dir)
    os.makedirs(root)
    os.chdir(root)
    t0 = time.perf_counter()
    muse("init")

    # Log-uniform sizes over a span of 2,000 (≈ 35 B to ≈ 70 KB for a mean of 9,100 B; at least
    # 200 B): a few files over the client's 64 KB presign threshold, most of a few KB.
    lo, hi = 0.0, math.log(2000)
    scale = a.mean_bytes / ((2000 - 1) / (hi - lo))

    def size() -> int:
        return max(200, int(scale * math.exp(rng.uniform(lo, hi))))

    words = [w for w in "bass drum snare verse chorus bridge take mix stem lead pad swing tempo key chord riff fill groove hook outro".split()]

    def content(path: str, version: int) -> bytes:
        head = f"muse-bench seed={a.seed} path={path} version={version}\n".encode()
        n = max(0, size() - len(head))
        if not path.endswith(".txt"):
            return head + rng.randbytes(n)
        # Text files hold text: the client parses them for symbols (its code_symbols
        # domain) and records what it finds in the commit's structured_delta, where
        # random bytes made a symbol holding U+0000, which the hub refuses (text.nul).
        out: list[str] = []
        length = 0
        while length < n:
            line = " ".join(rng.choice(words) for _ in range(8)) + f" {rng.getrandbits(32):08x}\n"
            out.append(line)
            length += len(line)
        return head + "".join(out).encode()[:n]

    dirs = [f"{d}/{s}" for d in ("tracks", "stems", "notes", "mix", "ñotas ü") for s in ("a", "b", "c", "d")]
    paths = [f"{dirs[i % len(dirs)]}/part-{i:04d}.{('mid', 'bin', 'txt')[i % 3]}" for i in range(a.files)]
    version = {p: 0 for p in paths}
    sizes: dict[str, int] = {}

    def write(p: str) -> None:
        b = content(p, version[p])
        full = os.path.join(root, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(b)
        sizes[p] = len(b)

    # Estimate of the hub's /fetch answer for the whole history so far (msgpack):
    # per manifest entry its path, a 64-hex id and a few header bytes; per object its
    # bytes and its entry's keys; per commit its 22-key wire map.
    manifest_bytes = sum(len(p.encode()) + 3 + 66 for p in paths) + 200
    pack = 0
    objects = 0
    object_bytes = 0
    prefix = None
    per_commit = a.objects - a.files
    changes_per_commit = per_commit / max(1, a.commits - 1)
    carry = 0.0
    commit_secs: list[float] = []
    for i in range(a.commits):
        if i == 0:
            changed = list(paths)
        else:
            carry += changes_per_commit
            k = int(carry)
            carry -= k
            changed = rng.sample(paths, max(1, k)) if k > 0 else []
            if not changed:
                changed = [rng.choice(paths)]
                carry -= 1
        for p in changed:
            version[p] += 1
            write(p)
        objects += len(changed)
        added = sum(sizes[p] for p in changed)
        object_bytes += added
        t = time.perf_counter()
        muse("commit", "-m", f"bench commit {i + 1}: {len(changed)} file(s)")
        commit_secs.append(time.perf_counter() - t)
        pack += manifest_bytes + 1200 + added + 85 * len(changed)
        if a.prefix_dir and a.prefix_pack_bytes and prefix is None and i + 1 < a.commits:
            # Copied while it still fits with room for the next commit's typical growth.
            nxt = pack + manifest_bytes + 1200 + int(changes_per_commit + 1) * (a.mean_bytes * 3 + 85)
            if nxt > a.prefix_pack_bytes:
                shutil.copytree(root, a.prefix_dir, symlinks=True)
                prefix = {"commits": i + 1, "objects": objects, "object_bytes": object_bytes, "pack_estimate": pack}

    commit_secs.sort()
    out = {
        "commits": a.commits,
        "files": a.files,
        "objects": objects,
        "object_bytes": object_bytes,
        "pack_estimate": pack,
        "build_s": round(time.perf_counter() - t0, 1),
        "commit_median_ms": round(1000 * commit_secs[len(commit_secs) // 2], 1),
        "commit_max_ms": round(1000 * commit_secs[-1], 1),
        "prefix": prefix,
    }
    print("MUSE_SEED " + json.dumps(out))


if __name__ == "__main__":
    main()
