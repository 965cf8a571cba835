#!/usr/bin/env python3
"""Golden reference data: tiny random-weight models built with Hugging Face transformers, their files
in every format Ponder reads, and the logits transformers computes for fixed token sequences.

Usage: python3 tools/make_golden.py [--out DIR]      (default: tests/golden/data next to this repo)

For each model <name> it writes DIR/<name>/:
  config.json, model.safetensors (or model-0000N-of-0000M.safetensors + model.safetensors.index.json
  for `qwen2`), tokenizer.json, tokenizer_config.json  -- an ordinary HF model folder (float32)
  model-f32.gguf, model-f16.gguf, model-bf16.gguf, model-q8_0.gguf
                                                        -- as llama.cpp's convert_hf_to_gguf.py writes them
  golden.json, logits.f32                               -- sequences and transformers' logits (float32, eager)

Deterministic: fixed seeds, no timestamps, one CPU thread; running it twice gives identical bytes
(SHA256SUMS lists them). Self-checks run at the end; any failure exits non-zero.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM
from transformers import LlamaConfig, Qwen2Config, Qwen3Config
import gguf
from gguf import GGMLQuantizationType as QT
from safetensors.numpy import load_file as load_safetensors

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "golden" / "data"

# ----------------------------------------------------------------------------------------------------
# Model definitions
# ----------------------------------------------------------------------------------------------------
VOCAB = 320
BASE = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=128, rms_norm_eps=1e-6, max_position_embeddings=128,
            hidden_act="silu")

# YaRN: transformers (and llama.cpp) apply YaRN statically -- the same inv_freq at every position,
# whatever the sequence length. The ramp between interpolated and extrapolated frequencies lies at
# dims floor(corr_dim(beta_fast=32)) .. ceil(corr_dim(beta_slow=1)) with
# corr_dim(r) = d * ln(L_orig / (2*pi*r)) / (2 ln theta). With head_dim 16 and theta 1e6 an
# original context of 16 puts the whole ramp at dims 0..1 (only 0/1 weights, no fractional ramp);
# 4096 gives low=1, high=4 (weights 0, 0, 1/3, 2/3, 1, ...) so truncation and ramp are both tested.
YARN_FACTOR = 4.0
YARN_ORIG_CTX = 4096

MODELS = [
    dict(name="qwen2", seed=1001, config_cls=Qwen2Config, arch="qwen2", seq_lens=[13, 6, 21], sharded=True,
         config=dict(BASE, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                     tie_word_embeddings=False)),
    dict(name="qwen2_tied", seed=1002, config_cls=Qwen2Config, arch="qwen2", seq_lens=[13, 6, 21],
         config=dict(BASE, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                     tie_word_embeddings=True)),
    dict(name="qwen2_yarn", seed=1003, config_cls=Qwen2Config, arch="qwen2", seq_lens=[40, 9, 27], legacy_config=True,
         config=dict(BASE, max_position_embeddings=int(YARN_ORIG_CTX * YARN_FACTOR),
                     rope_parameters={"rope_type": "yarn", "rope_theta": 1e6, "factor": YARN_FACTOR,
                                      "original_max_position_embeddings": YARN_ORIG_CTX},
                     tie_word_embeddings=False)),
    dict(name="llama", seed=1004, config_cls=LlamaConfig, arch="llama", seq_lens=[13, 6, 21], legacy_config=True,
         config=dict(BASE, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                     attention_bias=False, mlp_bias=False, tie_word_embeddings=False)),
    dict(name="qwen3", seed=1005, config_cls=Qwen3Config, arch="qwen3", seq_lens=[13, 6, 21],
         config=dict(BASE, head_dim=32, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                     attention_bias=False, tie_word_embeddings=False)),
]

# `legacy_config`: transformers 5 writes RoPE settings as "rope_parameters": {"rope_type", "rope_theta", ...};
# every checkpoint published before it (Qwen2.5, Qwen3, Llama 3, ...) has top-level "rope_theta" and
# "rope_scaling": {"type": "yarn", ...} or null. Those models get their config.json rewritten to that older
# form (transformers reads both; the self-check reloads the folder and compares logits and inv_freq).

GGUF_VARIANTS = [  # (file name, llama.cpp file type, type of 2-D weight matrices)
    ("model-f32.gguf", gguf.LlamaFileType.ALL_F32, QT.F32),
    ("model-f16.gguf", gguf.LlamaFileType.MOSTLY_F16, QT.F16),
    ("model-bf16.gguf", gguf.LlamaFileType.MOSTLY_BF16, QT.BF16),
    ("model-q8_0.gguf", gguf.LlamaFileType.MOSTLY_Q8_0, QT.Q8_0),
]

SHARD_SIZE = "150KB"  # qwen2 is ~470 KB of float32 -> 4 shards

# ----------------------------------------------------------------------------------------------------
# Toy byte-level BPE tokenizer (same vocabulary in tokenizer.json and in the GGUF tokenizer section)
# ----------------------------------------------------------------------------------------------------
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]  # ids V-3, V-2, V-1
BPE_CORPUS = (
    "the quick brown fox jumps over the lazy dog. The golden data proves that Ponder computes exactly "
    "what transformers computes, in every format: safetensors, f32, f16, bf16 and q8_0 GGUF. "
    "Hello world! hello there, in the morning and in the evening; there is the thing that is there."
)
TOKENIZER_SAMPLES = ["Hello world", "the quick brown fox", "in the evening, there is the thing!",
                     " leading space and\nnewline", "caf\u00e9 \u00fcber 123", "I've   3 spaces\n\n<|im_end|>"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (as transformers / llama.cpp use for byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


QWEN2_PRE_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                   r"\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def train_bpe(n_merges: int) -> tuple[list[str], list[tuple[str, str]]]:
    """A tiny deterministic BPE: most frequent adjacent pair first, ties broken by the pair's text."""
    b2u = bytes_to_unicode()
    vocab = [b2u[b] for b in range(256)]
    words: dict[tuple[str, ...], int] = {}
    for w in GPT2_SPLIT.findall(BPE_CORPUS):
        key = tuple(b2u[b] for b in w.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        counts: dict[tuple[str, str], int] = {}
        for w, c in words.items():
            for p in zip(w[:-1], w[1:]):
                counts[p] = counts.get(p, 0) + c
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        vocab.append(best[0] + best[1])
        new_words: dict[tuple[str, ...], int] = {}
        for w, c in words.items():
            out: list[str] = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    if len(merges) != n_merges:
        raise RuntimeError("BPE corpus too small for the vocabulary")
    return vocab, merges


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken, Regex
    from transformers import PreTrainedTokenizerFast
    n_merges = VOCAB - 256 - len(SPECIALS)
    tokens, merges = train_bpe(n_merges)
    tokens = tokens + SPECIALS
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False,
                     byte_fallback=False)
    tok = Tokenizer(bpe)
    # Qwen2's pre-tokenizer (llama.cpp: tokenizer.ggml.pre = "qwen2"). transformers 5 builds this very
    # pre-tokenizer for any model_type qwen2 folder whatever tokenizer.json says, so all models use it.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                     pad_token="<|endoftext|>", clean_up_tokenization_spaces=False)
    return hf_tok, tokens, merges


# ----------------------------------------------------------------------------------------------------
# HF model
# ----------------------------------------------------------------------------------------------------
def build_model(spec):
    config = spec["config_cls"](**spec["config"], bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    assert model.config._attn_implementation == "eager"
    model.eval()
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head is not listed separately
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.1
            if name.endswith("norm.weight"):        # RMSNorm weights (incl. q_norm / k_norm): 1 + N(0, .1)
                p.copy_(1.0 + noise)
            else:                                   # matrices and biases: N(0, .1)
                p.copy_(noise)
    if spec["config"]["tie_word_embeddings"]:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def to_legacy_config(cfg: dict) -> dict:
    """config.json as transformers 4.x wrote it: top-level rope_theta, rope_scaling with "type"."""
    cfg = dict(cfg)
    rope = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rope.pop("rope_theta")
    rope_type = rope.pop("rope_type")
    cfg["rope_scaling"] = None if rope_type == "default" else {"type": rope_type, **rope}
    return cfg


def rope_params(saved_config: dict) -> dict:
    """What convert_hf_to_gguf.py's TextModel.rope_parameters gives for either config.json form."""
    if "rope_parameters" in saved_config:
        return dict(saved_config["rope_parameters"])
    rope = dict(saved_config.get("rope_scaling") or {})
    rope.setdefault("rope_type", rope.get("type", "default"))
    rope["rope_theta"] = saved_config["rope_theta"]
    return rope


def run_logits(model, seqs):
    outs = []
    with torch.no_grad():
        for s in seqs:
            logits = model(input_ids=torch.tensor([s], dtype=torch.long)).logits[0]
            outs.append(logits.to(torch.float32).numpy())
    return np.concatenate(outs, axis=0)


def load_hf_folder_tensors(folder: Path) -> dict[str, np.ndarray]:
    """All tensors of an HF folder, single file or sharded, exactly as convert_hf_to_gguf.py reads them."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        parts = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        parts = ["model.safetensors"]
    tensors: dict[str, np.ndarray] = {}
    for part in parts:
        tensors.update(load_safetensors(str(folder / part)))
    return tensors


# ----------------------------------------------------------------------------------------------------
# GGUF (llama.cpp convert_hf_to_gguf.py conventions)
# ----------------------------------------------------------------------------------------------------
def llama_permute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """convert_hf_to_gguf.py LlamaModel.permute: HF rotate-half (NeoX) pairing -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensors(spec, hf: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(gguf name, float32 array in HF (row-major, out x in) layout) in file order."""
    cfg = spec["config"]
    arch = gguf.MODEL_ARCH[spec["arch"].upper()]
    tmap = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])

    out = []
    for name in hf:
        data = hf[name].astype(np.float32)
        if spec["arch"] == "llama":
            if name.endswith(("q_proj.weight", "q_proj.bias")):
                data = llama_permute(data, cfg["num_attention_heads"], cfg["num_attention_heads"])
            elif name.endswith(("k_proj.weight", "k_proj.bias")):
                data = llama_permute(data, cfg["num_attention_heads"], cfg["num_key_value_heads"])
        new_name = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise RuntimeError(f"cannot map tensor {name}")
        out.append((new_name, np.ascontiguousarray(data)))
    expected = expected_gguf_names(spec)
    if sorted(n for n, _ in out) != sorted(expected):
        raise RuntimeError(f"unexpected GGUF tensor set: {sorted(n for n, _ in out)}")
    return sorted(out, key=lambda nd: expected.index(nd[0]))


def tensor_qtype(name: str, data: np.ndarray, matrix_type: QT) -> QT:
    # convert_hf_to_gguf.py: `if n_dims <= 1 or new_name.endswith("_norm.weight"): F32`
    if data.ndim <= 1 or name.endswith("_norm.weight"):
        return QT.F32
    return matrix_type


def write_gguf(path: Path, spec, saved_config: dict, tensors, ftype, matrix_type, tok_tokens, tok_merges):
    cfg = spec["config"]
    arch = spec["arch"]
    w = gguf.GGUFWriter(str(path), arch)  # writes general.architecture
    # metadata (as ModelBase.prepare_metadata does it, minus anything derived from a real model card)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(spec["name"])
    # TextModel.set_gguf_parameters
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(saved_config["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    rope = rope_params(saved_config)
    if rope.get("rope_type") == "yarn":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(rope["factor"])
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    w.add_rope_freq_base(rope["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if saved_config.get("head_dim") is not None:  # only when config.json has head_dim, as upstream
        w.add_key_length(saved_config["head_dim"])
        w.add_value_length(saved_config["head_dim"])
    w.add_file_type(ftype)
    if arch == "llama":  # LlamaModel.set_gguf_parameters
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(saved_config.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    # tokenizer (TextModel._set_vocab_gpt2)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tok_tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in SPECIALS else gguf.TokenType.NORMAL for t in tok_tokens])
    w.add_token_merges([f"{a} {b}" for a, b in tok_merges])
    w.add_bos_token_id(VOCAB - 1)
    w.add_eos_token_id(VOCAB - 1)
    w.add_pad_token_id(VOCAB - 1)
    w.add_add_bos_token(False)

    for name, data in tensors:
        qt = tensor_qtype(name, data, matrix_type)
        if qt == QT.F32:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, gguf.quants.quantize(data, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ----------------------------------------------------------------------------------------------------
# Self-checks
# ----------------------------------------------------------------------------------------------------
class Checks:
    def __init__(self):
        self.failures: list[str] = []
        self.count = 0

    def expect(self, cond: bool, what: str):
        self.count += 1
        if not cond:
            self.failures.append(what)
            print(f"  FAIL: {what}")


def field_value(reader: gguf.GGUFReader, key: str):
    f = reader.get_field(key)
    if f is None:
        return None
    return f.contents()


def check_gguf(checks: Checks, path: Path, spec, hf: dict[str, np.ndarray], matrix_type: QT, expected_names):
    cfg = spec["config"]
    r = gguf.GGUFReader(str(path))
    arch = spec["arch"]
    checks.expect(field_value(r, "general.architecture") == arch, f"{path}: general.architecture")
    checks.expect(field_value(r, f"{arch}.block_count") == cfg["num_hidden_layers"], f"{path}: block_count")
    checks.expect(field_value(r, f"{arch}.attention.head_count_kv") == cfg["num_key_value_heads"],
                  f"{path}: head_count_kv")
    names = [t.name for t in r.tensors]
    checks.expect(names == expected_names, f"{path}: tensor names {names}")
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    by_name = {t.name: t for t in r.tensors}
    hf_by_gguf = {}
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], cfg["num_hidden_layers"])
    for hn in hf:
        hf_by_gguf[tmap.get_name(hn, try_suffixes=(".weight", ".bias"))] = hn
    for name, t in by_name.items():
        ref = hf[hf_by_gguf[name]].astype(np.float32)
        want_type = tensor_qtype(name, ref, matrix_type)
        checks.expect(t.tensor_type == want_type, f"{path}:{name} type {t.tensor_type.name} != {want_type.name}")
        if t.tensor_type == QT.F32:
            data = np.array(t.data, dtype=np.float32).reshape(ref.shape)
        else:
            data = gguf.quants.dequantize(np.array(t.data), t.tensor_type).reshape(ref.shape)
        checks.expect(list(reversed([int(x) for x in t.shape])) == list(ref.shape),
                      f"{path}:{name} ggml shape {list(t.shape)} vs torch {list(ref.shape)}")
        if arch == "llama":  # undo convert_hf_to_gguf's q/k permutation before comparing
            if name.endswith(("attn_q.weight", "attn_q.bias")):
                data = llama_unpermute(data, n_head)
            elif name.endswith(("attn_k.weight", "attn_k.bias")):
                data = llama_unpermute(data, n_kv)
        if t.tensor_type == QT.F32:
            checks.expect(np.array_equal(data, ref), f"{path}:{name} not bit-exact")
        else:
            tol = {QT.F16: 1e-3, QT.BF16: 8e-3, QT.Q8_0: 1.5e-2}[t.tensor_type] * float(np.abs(ref).max())
            err = float(np.abs(data - ref).max())
            checks.expect(err <= tol, f"{path}:{name} max err {err} > {tol}")


# ----------------------------------------------------------------------------------------------------
# Independent reference forward from a GGUF file alone (float64 numpy), the way llama.cpp reads it:
# interleaved RoPE pairs (2i, 2i+1) for llama, NeoX pairs (i, i + d/2) for qwen2/qwen3, YaRN from the
# rope.scaling.* keys with ggml's formula. Agreement with transformers' logits proves the conventions.
# ----------------------------------------------------------------------------------------------------
def gguf_rope_table(meta: dict, arch: str, head_dim: int) -> tuple[np.ndarray, float]:
    base = float(meta[f"{arch}.rope.freq_base"])
    theta_extrap = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if meta.get(f"{arch}.rope.scaling.type") != "yarn":
        return theta_extrap, 1.0
    factor = float(meta[f"{arch}.rope.scaling.factor"])
    n_ctx_orig = float(meta[f"{arch}.rope.scaling.original_context_length"])
    beta_fast = float(meta.get(f"{arch}.rope.scaling.yarn_beta_fast", 32.0))
    beta_slow = float(meta.get(f"{arch}.rope.scaling.yarn_beta_slow", 1.0))

    def corr_dim(n_rot):  # ggml_rope_yarn_corr_dim
        return head_dim * math.log(n_ctx_orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))
    low = max(0.0, math.floor(corr_dim(beta_fast)))
    high = min(head_dim - 1.0, math.ceil(corr_dim(beta_slow)))
    i = np.arange(head_dim // 2, dtype=np.float64)
    ramp_mix = 1.0 - np.clip((i - low) / max(0.001, high - low), 0.0, 1.0)  # ext_factor = 1
    theta = (theta_extrap / factor) * (1.0 - ramp_mix) + theta_extrap * ramp_mix
    mscale = 1.0 + 0.1 * math.log(factor)  # attn_factor = 1
    return theta, mscale


def gguf_reference_logits(path: Path, seq: list[int]) -> np.ndarray:
    r = gguf.GGUFReader(str(path))
    meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    arch = meta["general.architecture"]
    W = {}
    for t in r.tensors:
        shape = list(reversed([int(x) for x in t.shape]))
        raw = np.array(t.data)
        data = raw.astype(np.float32) if t.tensor_type in (QT.F32, QT.F16) else gguf.quants.dequantize(raw, t.tensor_type)
        W[t.name] = data.reshape(shape).astype(np.float64)
    n_layer = int(meta[f"{arch}.block_count"])
    n_head = int(meta[f"{arch}.attention.head_count"])
    n_kv = int(meta[f"{arch}.attention.head_count_kv"])
    eps = float(meta[f"{arch}.attention.layer_norm_rms_epsilon"])
    hd = int(meta.get(f"{arch}.attention.key_length", W["token_embd.weight"].shape[1] // n_head))
    inv_freq, mscale = gguf_rope_table(meta, arch, hd)

    def rms(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w

    n = len(seq)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv_freq[None, :]          # (n, hd/2)
    cos, sin = np.cos(ang)[:, None, :] * mscale, np.sin(ang)[:, None, :] * mscale

    def rope(x):  # (n, heads, hd)
        if arch == "llama":  # interleaved pairs (llama.cpp LLAMA_ROPE_TYPE_NORM)
            a, b = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
            return out
        a, b = x[..., : hd // 2], x[..., hd // 2:]  # NeoX
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    x = W["token_embd.weight"][seq]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layer):
        b = f"blk.{l}."
        h = rms(x, W[b + "attn_norm.weight"])
        q = lin(h, b + "attn_q").reshape(n, n_head, hd)
        k = lin(h, b + "attn_k").reshape(n, n_kv, hd)
        v = lin(h, b + "attn_v").reshape(n, n_kv, hd)
        if b + "attn_q_norm.weight" in W:
            q, k = rms(q, W[b + "attn_q_norm.weight"]), rms(k, W[b + "attn_k_norm.weight"])
        q, k = rope(q), rope(k)
        rep_ = n_head // n_kv
        k, v = np.repeat(k, rep_, axis=1), np.repeat(v, rep_, axis=1)
        sc = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        p = np.exp(sc - sc.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", p, v).reshape(n, n_head * hd)
        x = x + lin(o, b + "attn_output")
        h = rms(x, W[b + "ffn_norm.weight"])
        g = lin(h, b + "ffn_gate")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, b + "ffn_up"), b + "ffn_down")
    x = rms(x, W["output_norm.weight"])
    return x @ W["output.weight" if "output.weight" in W else "token_embd.weight"].T


# ----------------------------------------------------------------------------------------------------
def expected_gguf_names(spec) -> list[str]:
    cfg = spec["config"]
    names = ["token_embd.weight"]
    for i in range(cfg["num_hidden_layers"]):
        b = f"blk.{i}."
        names.append(b + "attn_norm.weight")
        for p in ("q", "k", "v"):
            names.append(b + f"attn_{p}.weight")
            if spec["arch"] == "qwen2":
                names.append(b + f"attn_{p}.bias")
        if spec["arch"] == "qwen3":
            names += [b + "attn_q_norm.weight", b + "attn_k_norm.weight"]
        names += [b + "attn_output.weight", b + "ffn_norm.weight", b + "ffn_gate.weight", b + "ffn_up.weight",
                  b + "ffn_down.weight"]
    names.append("output_norm.weight")
    if not cfg["tie_word_embeddings"]:
        names.append("output.weight")
    return names


def make_one(spec, out_root: Path, hf_tok, tok_tokens, tok_merges, checks: Checks) -> None:
    name = spec["name"]
    print(f"[{name}]")
    d = out_root / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)

    model = build_model(spec)

    # 1. HF folder
    save_kw = dict(max_shard_size=SHARD_SIZE) if spec.get("sharded") else dict(max_shard_size="100MB")
    model.save_pretrained(str(d), safe_serialization=True, **save_kw)
    hf_tok.save_pretrained(str(d))
    saved_config = json.loads((d / "config.json").read_text())
    if spec.get("legacy_config"):
        saved_config = to_legacy_config(saved_config)
        (d / "config.json").write_text(json.dumps(saved_config, indent=2, sort_keys=True) + "\n")
    hf = load_hf_folder_tensors(d)
    if spec.get("sharded"):
        n_shards = len(set(json.loads((d / "model.safetensors.index.json").read_text())["weight_map"].values()))
        checks.expect(n_shards >= 2, f"{name}: expected 2+ shards, got {n_shards}")
    checks.expect(("lm_head.weight" in hf) == (not spec["config"]["tie_word_embeddings"]),
                  f"{name}: lm_head presence")
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    for k, v in hf.items():
        checks.expect(v.dtype == np.float32 and np.array_equal(v, sd[k]), f"{name}: saved {k} differs")

    # 2. GGUF
    tensors = gguf_tensors(spec, hf)
    exp_names = expected_gguf_names(spec)
    checks.expect([n for n, _ in tensors] == exp_names, f"{name}: gguf names {[n for n, _ in tensors]}")
    for fname, ftype, mtype in GGUF_VARIANTS:
        write_gguf(d / fname, spec, saved_config, tensors, ftype, mtype, tok_tokens, tok_merges)
        check_gguf(checks, d / fname, spec, hf, mtype, exp_names)
    r = gguf.GGUFReader(str(d / "model-f32.gguf"))
    checks.expect(field_value(r, "tokenizer.ggml.tokens") == hf_tok.convert_ids_to_tokens(list(range(VOCAB))),
                  f"{name}: GGUF token list differs from tokenizer.json")

    # 3. sequences and logits
    rng = np.random.default_rng(spec["seed"])
    seqs = [[int(x) for x in rng.integers(0, VOCAB, size=n)] for n in spec["seq_lens"]]
    logits = run_logits(model, seqs)
    assert logits.shape == (sum(spec["seq_lens"]), VOCAB) and logits.dtype == np.float32
    checks.expect(bool(np.isfinite(logits).all()), f"{name}: non-finite logits")
    spread = float(logits.std(axis=1).min())
    checks.expect(spread > 0.1, f"{name}: logits too flat (min per-row std {spread})")
    logits.astype("<f4").tofile(d / "logits.f32")

    # the same model reloaded from the folder (sharded or not) gives the same logits
    reloaded = AutoModelForCausalLM.from_pretrained(str(d), attn_implementation="eager", dtype=torch.float32)
    reloaded.eval()
    checks.expect(np.array_equal(run_logits(reloaded, seqs), logits), f"{name}: reloaded HF folder logits differ")
    checks.expect(torch.equal(reloaded.model.rotary_emb.inv_freq, model.model.rotary_emb.inv_freq) and
                  reloaded.model.rotary_emb.attention_scaling == model.model.rotary_emb.attention_scaling,
                  f"{name}: reloaded HF folder rope differs")

    # every GGUF, run by the numpy reference, against transformers' logits (all three sequences)
    gguf_err = {}
    for fname, _, _ in GGUF_VARIANTS:
        ref = np.concatenate([gguf_reference_logits(d / fname, s) for s in seqs], axis=0)
        gguf_err[fname] = float(np.abs(ref - logits).max())
    checks.expect(gguf_err["model-f32.gguf"] < 1e-4, f"{name}: f32 GGUF reference forward err {gguf_err}")
    checks.expect(max(gguf_err.values()) < 0.2, f"{name}: quantized GGUF reference forward err {gguf_err}")
    print("  GGUF reference forward max |logit err| vs transformers: " +
          ", ".join(f"{k[6:-5]} {v:.1e}" for k, v in gguf_err.items()))

    from transformers import AutoTokenizer
    folder_tok = AutoTokenizer.from_pretrained(str(d))
    for t in TOKENIZER_SAMPLES:
        checks.expect(folder_tok.encode(t, add_special_tokens=False) == hf_tok.encode(t, add_special_tokens=False),
                      f"{name}: AutoTokenizer from the folder tokenizes {t!r} differently")

    rotary = model.model.rotary_emb
    golden = {
        "model": name,
        "architecture": spec["arch"],
        "hf_class": type(model).__name__,
        "n_vocab": VOCAB,
        "sequences": seqs,
        "logits_file": "logits.f32",
        "logits_layout": "little-endian float32, row-major (sum of sequence lengths, n_vocab); "
                         "sequence 0 positions first, then 1, then 2; each sequence run alone from position 0",
        "rope": {
            "inv_freq": [float(x) for x in rotary.inv_freq.to(torch.float32).tolist()],
            "attention_scaling": float(rotary.attention_scaling),
            "layout": "interleaved in GGUF (q/k permuted), neox in safetensors" if spec["arch"] == "llama"
                      else "neox",
        },
        "gguf_reference_max_abs_err": {k: f"{v:.1e}" for k, v in gguf_err.items()},
        "tokenizer_samples": [{"text": t, "ids": hf_tok.encode(t, add_special_tokens=False)}
                              for t in TOKENIZER_SAMPLES],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gguf": gguf_version(),
    }
    (d / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"  seq lens {spec['seq_lens']}, logits std min {spread:.3f}, attention_scaling "
          f"{golden['rope']['attention_scaling']:.6f}")


def gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "unknown"


def write_sums(out_root: Path) -> None:
    lines = []
    for p in sorted(out_root.rglob("*")):
        if p.is_file() and p.name != "SHA256SUMS" and p.name != "README.md":
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out_root).as_posix()}")
    (out_root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    out_root: Path = args.out
    out_root.mkdir(parents=True, exist_ok=True)
    hf_tok, tok_tokens, tok_merges = build_tokenizer()
    checks = Checks()
    for spec in MODELS:
        make_one(spec, out_root, hf_tok, tok_tokens, tok_merges, checks)
    write_sums(out_root)

    if checks.failures:
        print(f"self-check: {len(checks.failures)} of {checks.count} checks FAILED")
        return 1
    print(f"self-check: all {checks.count} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
