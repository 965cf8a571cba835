#!/usr/bin/env python3
"""Build the tokenizer golden corpus and its expected ids from Hugging Face `tokenizers`.

Two steps, both writing into tests/golden/tokenizer/:
  corpus   assemble corpus.txt (>= 20k entries) from text available offline:
             * Python's own sources and docs (the running interpreter's stdlib, site-packages docs)
             * C headers (/usr/include), shell and other code when present
             * Chinese, Japanese and Korean prose from Python's test/cjkencodings and Vim's tutor
               and messages when present, plus sentences generated from the vocabulary's CJK words
             * generated lines: numbers, whitespace runs, emoji (ZWJ, skin tones, flags, keycaps),
               combining marks (NFD text, to exercise NFC), mixed scripts, contractions in every
               case, special-token text, invalid UTF-8
           The sources vary between machines; the corpus is committed, so this step is only rerun
           to change it (--seed makes the sampling repeatable on one machine).
  expected tokenize corpus.txt with the reference and write
             ids.txt            ids of each entry, parse_special=false (tokenizers' encode_special_tokens)
             ids_special.txt    "<entry index>\t<ids>" with parse_special=true, for entries where it differs
             ids_llama3.txt     "<entry index>\t<ids>" for every 10th entry, the same vocabulary with Llama 3's
                                pre-tokenizer and ignore_merges and no normalizer
             ids_gpt2.txt       likewise with GPT-2's ByteLevel pre-tokenizer and no normalizer
           The reference is the tokenizer.json that tools/fetch_qwen2_vocab.py writes next to the
           vocab GGUF. Entries are bytes; invalid UTF-8 is given to the reference decoded with
           errors="replace", which is what Ponder's encode does to it.

corpus.txt format: one entry per line; inside an entry '\\' is written '\\\\', LF '\\n', CR '\\r', and
each byte of invalid UTF-8 '\\xHH', so the file itself is valid UTF-8.

Usage: make_tokenizer_corpus.py [corpus|expected|all] [--seed N] [--tokenizer PATH]
"""
import argparse, glob, gzip, os, random, re, sys, sysconfig, unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "golden", "tokenizer")
HOME = os.environ.get("PONDER_HOME") or os.path.expanduser("~/.cache/ponder")
DEFAULT_TOKENIZER = os.path.join(HOME, "vocab", "qwen2-tokenizer.json")
MAX_ENTRY_BYTES = 400


def escape(b: bytes) -> str:
    out = []
    i = 0
    while i < len(b):
        # Decode the longest valid run; escape each byte of what is not valid.
        for n in (4, 3, 2, 1):
            chunk = b[i:i + n]
            try:
                s = chunk.decode("utf-8")
                if len(s) != 1:
                    raise ValueError
            except (UnicodeDecodeError, ValueError):
                continue
            out.append({"\\": "\\\\", "\n": "\\n", "\r": "\\r"}.get(s, s))
            i += n
            break
        else:
            out.append("\\x%02X" % b[i])
            i += 1
    return "".join(out)


def unescape(line: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = line[i + 1]
        if nxt == "x":
            out.append(int(line[i + 2:i + 4], 16))
            i += 4
        else:
            out += {"\\": b"\\", "n": b"\n", "r": b"\r"}[nxt]
            i += 2
    return bytes(out)


# ---------------------------------------------------------------- sources

def read_lines(path, limit=None):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    lines = [l for l in data.split(b"\n") if l.strip()]
    return lines[:limit] if limit else lines


def sample(rng, items, n):
    items = list(items)
    rng.shuffle(items)
    return items[:n]


def python_sources(rng, n):
    stdlib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(stdlib, "*.py")) + glob.glob(os.path.join(stdlib, "*", "*.py")))
    lines = []
    for f in sample(rng, files, 300):
        ls = read_lines(f)
        lines += sample(rng, ls, 40)
        # A few multi-line chunks keep indentation and blank lines (\s*[\r\n]+ and friends).
        if len(ls) > 12:
            k = rng.randrange(len(ls) - 8)
            with open(f, "rb") as fh:
                body = fh.read().split(b"\n")
            lines.append(b"\n".join(body[k:k + rng.randint(2, 8)]))
    return sample(rng, lines, n)


def docs(rng, n):
    site = sysconfig.get_paths()["purelib"]
    files = sorted(glob.glob(os.path.join(site, "*.dist-info", "METADATA")) +
                   glob.glob(os.path.join(site, "*", "*.md")) + glob.glob(os.path.join(site, "*", "*.rst")) +
                   glob.glob(os.path.join(site, "*.dist-info", "LICENSE*")))
    lines = []
    for f in files:
        lines += read_lines(f)
    return sample(rng, lines, n)


def other_code(rng, n):
    files = sorted(glob.glob("/usr/include/*.h") + glob.glob("/usr/include/*/*.h") +
                   glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "*", "*.js")) +
                   glob.glob("/usr/share/perl5/*.pm") + glob.glob("/etc/*.conf") + glob.glob("/usr/bin/*.sh") +
                   glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "*", "*.pyi")))
    lines = []
    for f in sample(rng, files, 400):
        lines += sample(rng, read_lines(f), 20)
    return sample(rng, lines, n)


def cjk_prose(rng, n):
    stdlib = sysconfig.get_paths()["stdlib"]
    files = glob.glob(os.path.join(stdlib, "test", "cjkencodings", "*-utf8.txt")) + \
        glob.glob("/usr/share/vim/vim*/tutor/tutor.zh*.utf-8") + glob.glob("/usr/share/vim/vim*/tutor/tutor.ja.utf-8") + \
        glob.glob("/usr/share/vim/vim*/tutor/tutor.ko.utf-8")
    lines = []
    for f in files:
        lines += read_lines(f)
    for mo in glob.glob("/usr/share/vim/vim*/lang/zh_CN.UTF-8/LC_MESSAGES/vim.mo"):
        lines += mo_strings(mo)
    return sample(rng, lines, n)


def mo_strings(path):
    import struct
    data = open(path, "rb").read()
    # GNU .mo: magic, revision, string count, offset of originals, offset of translations.
    n, toff = struct.unpack_from("<I", data, 8)[0], struct.unpack_from("<I", data, 16)[0]
    out = []
    for i in range(n):
        length, off = struct.unpack_from("<II", data, toff + 8 * i)
        s = data[off:off + length]
        for part in s.split(b"\n"):
            if part.strip():
                out.append(part)
    return out


def vocab_cjk_words(tokenizer_json):
    import json
    with open(tokenizer_json, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    byte_dec = {v: k for k, v in bytes_to_unicode().items()}
    words = []
    for tok in vocab:
        try:
            s = bytes(byte_dec[c] for c in tok).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
        if len(s) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in s):
            words.append(s)
    return sorted(words)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def generated_chinese(rng, words, n):
    punct = ["，", "。", "、", "：", "；", "！", "？", "“", "”", "（", "）", "《", "》", " ", "\n"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(3, 20)):
            r = rng.random()
            if r < 0.6 and words:
                parts.append(rng.choice(words))
            elif r < 0.8:
                parts.append(chr(rng.randint(0x4E00, 0x9FFF)))  # any CJK Unified Ideograph
            elif r < 0.9:
                parts.append(rng.choice(punct))
            else:
                parts.append(rng.choice(["Python", "GPU", "2024年", "3.14", "AI", "模型", "token", " 123 "]))
        out.append("".join(parts).encode())
    return out


EMOJI = ["😀", "👍", "👍🏻", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🇨🇳", "🇺🇸", "🇯🇵", "1️⃣", "#️⃣", "❤️", "🤷‍♂️",
         "🧑🏾‍🚀", "🐍", "🚀", "✅", "🦀", "😶‍🌫️", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👁️‍🗨️", "🤦🏼‍♀️"]
SCRIPTS = ["Привет, мир! Как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
           "สวัสดีชาวโลก", "こんにちは世界、カタカナとひらがな", "안녕하세요 세계", "Xin chào thế giới", "Ελληνικά 123",
           "ᠮᠣᠩᠭᠣᠯ", "ქართული ენა", "Հայերեն", "தமிழ் மொழி", "ਪੰਜਾਬੀ", "ខ្មែរ", "ລາວ", "አማርኛ", "𐌰𐌱𐌲 Gothic",
           "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ", "ﬁne ﬂow ligatures", "Ⅻ Ⅳ ⅷ roman", "½ ¾ ² ³ ⁴ ₅", "①②③ ⑴⑵"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>",
           "<｜begin▁of▁sentence｜>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<|EOT|>",
           "<|vision_start|>", "<|fim_prefix|>", "<|im_", "<｜User", "<thin", "[PAD151665]", "<|file_sep|>"]
WORDS = ["hello", "world", "the", "tokenizer", "I", "we", "you", "don", "it", "café", "naïve", "x", "HTTP", "API"]


def nfd(s):
    return unicodedata.normalize("NFD", s)


def generated(rng, n):
    gens = []
    def numbers():
        choices = [str(rng.randint(0, 10 ** rng.randint(1, 25))), f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 9)}f}",
                   f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                   f"{rng.random():e}", "0x%X" % rng.getrandbits(48), "1,234,567.89", "٣٤٥ ١٢", "१२३४", "一二三 ４５６",
                   "v" + ".".join(str(rng.randint(0, 99)) for _ in range(3)), "+1 (555) 123-4567", "3.14159265358979"]
        return " ".join(rng.choice(choices) for _ in range(rng.randint(1, 6)))
    def whitespace():
        pieces = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u3000", "\u00a0", "\u2003", "\u2028", "\u0085", "\x0b", "\x0c",
                  "\x1c", "\u200b", "\ufeff"]
        return "".join(rng.choice(pieces + WORDS + ["!", "1", "."]) for _ in range(rng.randint(1, 20)))
    def emoji():
        return "".join(rng.choice(EMOJI + WORDS + [" ", " ", "!", "\u200d", "\ufe0f", "🏻"]) for _ in range(rng.randint(1, 10)))
    def combining():
        base = rng.choice(["café résumé naïve", "Ångström", "Việt Nam", "Ελληνικά ἄλφα", "Zürich Œuvre",
                           "e\u0301\u0301 a\u0323\u0302 o\u0308\u0304", "한국어 텍스트", "ñandú", "q\u0307\u0323",
                           "\u1100\u1161\u11a8 jamo", "x\u0338 =\u0338 <\u0338", "Å Ω K", "\u0344 \u0958 \uf900",
                           "ā̀ ḗ ṓ", "Z̴̡̪͙̿a̶̝̓l̸̢̑g̵̣̈́o̵̠͑"])
        return rng.choice([base, nfd(base), unicodedata.normalize("NFKD", base)]) + rng.choice(["", " ", "\u0301", "\u0345"])
    def scripts():
        return " ".join(rng.choice(SCRIPTS + WORDS) for _ in range(rng.randint(1, 5)))
    def contractions():
        parts = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL",
                 "'d", "'D", "'ſ", "'x", "''", "' ", "'1", "’s", "n't"]
        return "".join(rng.choice(parts + WORDS + [" ", " "]) for _ in range(rng.randint(2, 10)))
    def specials():
        return "".join(rng.choice(SPECIAL + WORDS + [" ", "\n", "<", ">", "|", "｜"]) for _ in range(rng.randint(1, 8)))
    def invalid():
        text = " ".join(rng.choice(WORDS + SCRIPTS[:3]) for _ in range(rng.randint(1, 4))).encode()
        bad = rng.choice([b"\xff", b"\xfe", b"\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80\x80",
                          b"\xf4\x90\x80\x80", b"\xc3", b"\xef\xbf\xbd", b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80"])
        k = rng.randint(0, len(text))
        return text[:k] + bad + text[k:]
    def runs():
        c = rng.choice(["a", " ", "\n", "1", "!", "中", "😀", "é", "\t", "-", "=", "ab", " a"])
        return c * rng.randint(2, 120)
    kinds = [numbers, whitespace, emoji, combining, scripts, contractions, specials, invalid, runs]
    for i in range(n):
        v = kinds[i % len(kinds)]()
        gens.append(v if isinstance(v, bytes) else v.encode("utf-8"))
    return gens


def build_corpus(args):
    rng = random.Random(args.seed)
    words = vocab_cjk_words(args.tokenizer) if os.path.exists(args.tokenizer) else []
    parts = {
        "python": python_sources(rng, 6000),
        "docs": docs(rng, 3500),
        "code": other_code(rng, 3000),
        "cjk": cjk_prose(rng, 1500),
        "chinese_generated": generated_chinese(rng, words, 1500),
        "generated": generated(rng, 6000),
    }
    entries = []
    for name, items in parts.items():
        items = [x[:MAX_ENTRY_BYTES] for x in items if x.strip(b" ")]
        print(f"{name}: {len(items)} entries", file=sys.stderr)
        entries += items
    # Edge entries that must always be there.
    entries += [b"", b" ", b"\n", b"\r\n", b"\t", b"'", b"0", b"\xc2\xa0", b"\xf0", "ſ".encode(), b"a" * 300,
                ("中" * 150).encode(), b"1" * 200, b" " * 300 + b"x", b"\n" * 50 + b"x", b"!" * 200]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.txt"), "w", encoding="utf-8", newline="\n") as f:
        for e in entries:
            f.write(escape(e) + "\n")
    print(f"corpus.txt: {len(entries)} entries, {sum(map(len, entries))} bytes", file=sys.stderr)


def expected(args):
    from tokenizers import Tokenizer
    plain = Tokenizer.from_file(args.tokenizer)
    plain.encode_special_tokens = True
    special = Tokenizer.from_file(args.tokenizer)
    with open(os.path.join(OUT, "corpus.txt"), encoding="utf-8") as f:
        entries = [unescape(l.rstrip("\n")) for l in f]
    texts = [e.decode("utf-8", errors="replace") for e in entries]
    ids_plain = [e.ids for e in plain.encode_batch(texts, add_special_tokens=False)]
    ids_special = [e.ids for e in special.encode_batch(texts, add_special_tokens=False)]
    with open(os.path.join(OUT, "ids.txt"), "w") as f:
        for ids in ids_plain:
            f.write(" ".join(map(str, ids)) + "\n")
    n_diff = 0
    with open(os.path.join(OUT, "ids_special.txt"), "w") as f:
        for i, (a, b) in enumerate(zip(ids_plain, ids_special)):
            if a != b:
                f.write(f"{i}\t{' '.join(map(str, b))}\n")
                n_diff += 1
    for name, variant in variants(args.tokenizer).items():
        variant.encode_special_tokens = True
        picked = list(range(0, len(texts), 10))
        enc = variant.encode_batch([texts[i] for i in picked], add_special_tokens=False)
        with open(os.path.join(OUT, f"ids_{name}.txt"), "w") as f:
            for i, e in zip(picked, enc):
                f.write(f"{i}\t{' '.join(map(str, e.ids))}\n")
    # The round trip the C++ test checks: decode(encode(x)) == NFC(x with U+FFFD for invalid bytes).
    bad = sum(plain.decode(ids, skip_special_tokens=False) != unicodedata.normalize("NFC", t)
              for ids, t in zip(ids_plain, texts))
    print(f"ids.txt: {len(entries)} entries, {sum(map(len, ids_plain))} ids; {n_diff} differ with special "
          f"tokens parsed; {bad} decode round-trip differences", file=sys.stderr)


LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def variants(path):
    """The reference vocabulary with the other pre-tokenizers Ponder supports."""
    import json
    from tokenizers import Tokenizer
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    llama3 = json.loads(json.dumps(doc))
    llama3["normalizer"] = None
    llama3["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = LLAMA3_REGEX
    llama3["model"]["ignore_merges"] = True
    gpt2 = json.loads(json.dumps(doc))
    gpt2["normalizer"] = None
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {"llama3": Tokenizer.from_str(json.dumps(llama3)), "gpt2": Tokenizer.from_str(json.dumps(gpt2))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", nargs="?", default="all", choices=["corpus", "expected", "all"])
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    args = ap.parse_args()
    if not os.path.exists(args.tokenizer):
        sys.exit(f"{args.tokenizer} is missing: run tools/fetch_qwen2_vocab.py first")
    if args.step in ("corpus", "all"):
        build_corpus(args)
    if args.step in ("expected", "all"):
        expected(args)


if __name__ == "__main__":
    main()
