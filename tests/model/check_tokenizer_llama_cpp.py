#!/usr/bin/env python3
"""The default model's vocabulary (SmolLM2: GPT-2 byte-level BPE with digits split singly) through
Ponder's tokenizer and through llama.cpp on the same GGUF, over every 10th entry of the tokenizer
corpus (entries with invalid UTF-8 left out: the two engines repair bytes differently by design).
Exits 77 (ctest: skipped) when the model or llama-cpp-python is not installed."""
import argparse, os, subprocess, sys

STEP = 10


def unescape(line):
    out, i = bytearray(), 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            n = line[i + 1]
            if n == "n": out += b"\n"; i += 2; continue
            if n == "r": out += b"\r"; i += 2; continue
            if n == "x": out.append(int(line[i + 2:i + 4], 16)); i += 4; continue
            out += n.encode(); i += 2; continue
        out += c.encode(); i += 1
    return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    model = subprocess.run([sys.executable, os.path.join(here, "..", "..", "tools", "fetch_default_model.py"),
                            "--print-path"], capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.exists(model):
        print(f"SKIP: {model} not present (scripts/setup.sh fetches it)")
        return 77
    try:
        from llama_cpp import Llama
    except ImportError:
        print("SKIP: llama-cpp-python is not installed")
        return 77
    corpus = os.path.join(here, "..", "golden", "tokenizer", "corpus.txt")
    out = os.path.join(args.work, "smollm2_corpus_ids.txt")
    subprocess.run([args.tool, model, corpus, str(STEP), out], check=True)
    ours = {}
    with open(out) as f:
        for line in f:
            index, _, ids = line.rstrip("\n").partition("\t")
            ours[int(index)] = [int(x) for x in ids.split()] if ids else []
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    compared, mismatches = 0, []
    with open(corpus, encoding="utf-8") as f:
        for index, line in enumerate(f):
            if index % STEP:
                continue
            text = unescape(line.rstrip("\n"))
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                continue
            ref = llm.tokenize(text, add_bos=False, special=False) if text else []
            compared += 1
            if ref != ours[index]:
                mismatches.append((index, text[:60], ref[:12], ours[index][:12]))
    print(f"compared {compared} entries, {len(mismatches)} mismatches")
    for m in mismatches[:10]:
        print("  entry", *m)
    return 0 if not mismatches and compared > 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
