#!/usr/bin/env python3
"""Single-thread encode throughput: Ponder's tokenizer vs Hugging Face tokenizers, same corpus.

Builds bench/tokenizer_bench.cpp against the static libraries of a Ponder build directory, runs it,
then times tokenizers on the same entries (the tokenizer.json of tools/fetch_qwen2_vocab.py, with
RAYON_NUM_THREADS=1 so encode_batch runs on one thread; per-entry encode() is timed too) and prints
both rates and the ratio. Both sides encode without parsing special tokens; best of N passes each.

Usage: bench/tokenizer_bench.py [--build build/h-text] [--repeats 5]
Needs: a Release build (cmake --build BUILD --target ponder_text ponder_io), tools/fetch_qwen2_vocab.py run.
"""
import argparse, os, subprocess, sys, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HOME = os.environ.get("PONDER_HOME") or os.path.expanduser("~/.cache/ponder")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def build(build_dir):
    exe = os.path.join(build_dir, "tokenizer_bench")
    libs = [os.path.join(build_dir, f"libponder_{m}.a") for m in ("text", "io", "quant", "core")]
    missing = [l for l in libs if not os.path.exists(l)]
    if missing:
        sys.exit(f"missing {missing}: build {build_dir} first")
    subprocess.run(["c++", "-O2", "-std=c++20", "-I", os.path.join(ROOT, "src"),
                    os.path.join(ROOT, "bench", "tokenizer_bench.cpp"), *libs, "-lfmt", "-lpthread", "-o", exe],
                   check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "h-text"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    vocab = os.path.join(HOME, "vocab", "qwen2-vocab.gguf")
    tok_json = os.path.join(HOME, "vocab", "qwen2-tokenizer.json")
    corpus = os.path.join(ROOT, "tests", "golden", "tokenizer", "corpus.txt")
    if not os.path.exists(vocab):
        sys.exit("run tools/fetch_qwen2_vocab.py first")

    exe = build(args.build)
    out = subprocess.run([exe, vocab, corpus, str(args.repeats)], check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split()[1:])
    ponder_mbs = float(fields["MB/s"])

    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer
    from make_tokenizer_corpus import unescape
    hf = Tokenizer.from_file(tok_json)
    hf.encode_special_tokens = True
    with open(corpus, encoding="utf-8") as f:
        entries = [unescape(l.rstrip("\n")) for l in f]
    n_bytes = sum(map(len, entries))
    texts = [e.decode("utf-8", errors="replace") for e in entries]
    best_batch = best_loop = 1e9
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        n_ids = sum(len(e.ids) for e in hf.encode_batch(texts, add_special_tokens=False))
        best_batch = min(best_batch, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for t in texts:
            hf.encode(t, add_special_tokens=False)
        best_loop = min(best_loop, time.perf_counter() - t0)
    hf_mbs = n_bytes / best_batch / 1e6
    print(f"corpus: {len(entries)} entries, {n_bytes} bytes, {fields['ids']} ids (HF: {n_ids})")
    print(f"ponder           {ponder_mbs:8.2f} MB/s")
    print(f"hf encode_batch  {hf_mbs:8.2f} MB/s  (1 thread)")
    print(f"hf encode loop   {n_bytes / best_loop / 1e6:8.2f} MB/s")
    print(f"ratio ponder / hf encode_batch: {ponder_mbs / hf_mbs:.2f}x")


if __name__ == "__main__":
    main()
