#!/usr/bin/env python3
"""Makes the reference vectors that prove src/quant bit-exact against the GGUF ecosystem.

Run from the repository root:

    python3 tools/make_quant_vectors.py [--out tests/unit/quant/data] [--ggml-lib PATH | --no-ggml]

Everything is drawn from a fixed seed, so a rerun with the same gguf / numpy / torch versions
writes identical files. The references never come from Ponder itself:

* Dequantization: random blocks for every type Ponder dequantizes (random bytes, with the f16 /
  f32 scale fields overwritten by sane finite values so no NaN or inf appears), dequantized by
  gguf-py (`gguf.quants.dequantize`). gguf-py has no Q8_K, so Q8_K's reference is computed here
  with numpy as ggml's dequantize_row_q8_K defines it: f32 d times the int8 quant.
* Quantization: float rows (zeros, normal, small, tiny, huge, negative-only, positive-only,
  outliers, per-block constants, exact rounding ties) and the bytes gguf-py's quantizers write
  (F32, F16, BF16, Q8_0, Q4_0). gguf-py has no Q4_K / Q6_K quantizer; their reference bytes come
  from ggml's own quantize_row_q4_K_ref / quantize_row_q6_K_ref, called through ctypes in a ggml
  shared library that exports them (libggml-base.so, as shipped in the llama-cpp-python wheel, or
  any other build of ggml): pass --ggml-lib PATH, or set PONDER_GGML_LIB, or have llama_cpp
  importable. With --no-ggml those two files are written without reference bytes and the C++ test
  skips their byte comparison. When a ggml library is present the script also cross-checks
  gguf-py's quantizers and dequantizers against ggml's and stops on any difference.
* f16 / bf16 conversions: f16 bit patterns and their f32 values (numpy), and f32 values with their
  f16 (numpy astype, round to nearest even) and bf16 (torch .to(bfloat16)) encodings.

File formats (little-endian; read by tests/unit/quant/vector_file.h):

  dequant_<type>.bin  b"PQDQ" u32 version=1, u32 ggml_type, u32 n_elems, u32 n_bytes,
                      u8[n_bytes] blocks, f32[n_elems] reference values
  quant_<type>.bin    b"PQQU" u32 version=1, u32 ggml_type, u32 n_rows, u32 n_per_row,
                      u32 ref_source (0 none, 1 gguf-py, 2 ggml), u32 n_ref_bytes,
                      f32[n_rows * n_per_row] inputs, u8[n_ref_bytes] reference blocks
  fp16.bin            b"PQHF" u32 version=1, u32 n_h, u16[n_h] f16 bits, u32[n_h] f32 bits,
                      u32 n_f, u32[n_f] f32 bits, u16[n_f] f16 bits, u16[n_f] bf16 bits
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240607
VERSION = 1
SOURCE_NONE, SOURCE_GGUF, SOURCE_GGML = 0, 1, 2

# Byte offsets of the f16 scale fields inside each block (blocks.h documents the layouts).
F16_SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0],
    T.IQ3_S: [0], T.IQ1_S: [0], T.IQ1_M: [],
}
DEQUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                 T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]
# Added later, drawn from their own generator so the files above stay byte-identical.
DEQUANT_TYPES_IQ = [T.IQ4_NL, T.IQ4_XS]
IQ_SEED = 20261123
DEQUANT_TYPES_IQ_GRID = [T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M]
IQ_GRID_SEED = 20261124
QUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_K, T.Q6_K]
GGML_QUANTIZERS = {T.Q4_0: "quantize_row_q4_0_ref", T.Q8_0: "quantize_row_q8_0_ref",
                   T.Q4_K: "quantize_row_q4_K_ref", T.Q6_K: "quantize_row_q6_K_ref"}
N_PER_ROW = 512


def type_name(t: T) -> str:
    """The name as Ponder's dtype_name prints it (q4_K, bf16, ...)."""
    return t.name.lower().replace("_k", "_K")


# ---------------------------------------------------------------------------------------------
# ggml shared library (optional)


def find_ggml_lib(arg: str | None) -> str | None:
    if arg:
        return arg
    if os.environ.get("PONDER_GGML_LIB"):
        return os.environ["PONDER_GGML_LIB"]
    try:
        import llama_cpp  # noqa: PLC0415

        candidate = Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return None


class Ggml:
    """ggml's reference quantizers and dequantizers, called through ctypes."""

    def __init__(self, path: str):
        self.lib = ctypes.CDLL(path)
        for name in GGML_QUANTIZERS.values():
            fn = getattr(self.lib, name)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            fn.restype = None

    def quantize(self, x: np.ndarray, t: T) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        block, size = GGML_QUANT_SIZES[t]
        out = np.zeros(x.size // block * size, dtype=np.uint8)
        getattr(self.lib, GGML_QUANTIZERS[t])(x.ctypes.data, out.ctypes.data, x.size)
        return out

    def dequantize(self, blocks: np.ndarray, t: T) -> np.ndarray:
        block, size = GGML_QUANT_SIZES[t]
        n = blocks.size // size * block
        out = np.zeros(n, dtype=np.float32)
        fn = getattr(self.lib, f"dequantize_row_{type_name(t)}")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        data = np.ascontiguousarray(blocks, dtype=np.uint8)
        fn(data.ctypes.data, out.ctypes.data, n)
        return out


# ---------------------------------------------------------------------------------------------
# Dequantization vectors


def random_f16_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales: mostly magnitudes 1e-4..10 of either sign, plus zeros and subnormals."""
    mags = 10.0 ** rng.uniform(-4, 1, size=n)
    signs = rng.choice([-1.0, 1.0], size=n)
    values = (mags * signs).astype(np.float16)
    specials = np.array([0.0, -0.0, 2.0**-24, -3 * 2.0**-20, 6.1e-5], dtype=np.float16)
    k = min(n, len(specials))
    picks = rng.choice(n, size=k, replace=False)
    values[picks] = specials[:k]
    return values


def random_blocks(rng: np.random.Generator, t: T, n_blocks: int) -> np.ndarray:
    _, size = GGML_QUANT_SIZES[t]
    if t == T.F32:
        mags = 10.0 ** rng.uniform(-40, 38, size=n_blocks)
        vals = (rng.standard_normal(n_blocks) * mags).astype(np.float32)
        vals[:4] = [0.0, -0.0, 1e-45, -3.4e38]
        return vals.view(np.uint8)
    if t in (T.F16, T.BF16):
        bits = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint32).astype(np.uint16)
        exp_all_ones = 0x7C00 if t == T.F16 else 0x7F80
        bits[(bits & exp_all_ones) == exp_all_ones] ^= np.uint16(0x4000)  # no inf / NaN
        bits[:4] = [0x0000, 0x8000, 0x0001, 0x8001]  # zeros and the smallest subnormals
        return bits.view(np.uint8)
    data = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if t == T.Q8_K:
        d = (rng.standard_normal(n_blocks) * 0.01).astype(np.float32)
        data[:, 0:4] = d.view(np.uint8).reshape(n_blocks, 4)
        return data.reshape(-1)
    for off in F16_SCALE_OFFSETS[t]:
        data[:, off:off + 2] = random_f16_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    if t == T.IQ1_M:  # the f16 scale is the top nibbles of the four u16 words at byte 48
        d = random_f16_scales(rng, n_blocks).view(np.uint16)
        words = data[:, 48:56].copy().view("<u2")
        for k in range(4):
            words[:, k] = (words[:, k] & 0x0FFF) | (((d >> (4 * k)) & 0xF) << 12)
        data[:, 48:56] = words.view(np.uint8)
    return data.reshape(-1)


def reference_dequantize(blocks: np.ndarray, t: T) -> np.ndarray:
    if t == T.Q8_K:
        _, size = GGML_QUANT_SIZES[t]
        b = blocks.reshape(-1, size)
        d = b[:, 0:4].copy().view(np.float32)  # (n_blocks, 1)
        q = b[:, 4:260].copy().view(np.int8).astype(np.float32)  # (n_blocks, 256)
        return (d * q).reshape(-1)
    return np.asarray(quants.dequantize(blocks, t), dtype=np.float32).reshape(-1)


def write_dequant(out: Path, rng: np.random.Generator, t: T, ggml: Ggml | None) -> int:
    block, _ = GGML_QUANT_SIZES[t]
    n_blocks = 512 if block == 1 else (8 if block == 32 else 4)
    blocks = random_blocks(rng, t, n_blocks)
    ref = reference_dequantize(blocks, t)
    assert ref.dtype == np.float32 and ref.size == n_blocks * block
    assert np.all(np.isfinite(ref)), f"{t.name}: reference has non-finite values"
    if ggml is not None and block > 1:
        theirs = ggml.dequantize(blocks, t)
        if not np.array_equal(theirs.view(np.uint32), ref.view(np.uint32)):
            sys.exit(f"{t.name}: gguf-py and ggml dequantize differently")
    path = out / f"dequant_{type_name(t)}.bin"
    with open(path, "wb") as f:
        f.write(b"PQDQ" + struct.pack("<4I", VERSION, int(t), ref.size, blocks.size))
        f.write(blocks.tobytes())
        f.write(ref.astype("<f4").tobytes())
    return path.stat().st_size


# ---------------------------------------------------------------------------------------------
# Quantization vectors


def quant_inputs(rng: np.random.Generator) -> np.ndarray:
    """Rows of N_PER_ROW floats covering the cases a quantizer must get right."""
    n = N_PER_ROW
    normal = lambda: rng.standard_normal(n)  # noqa: E731
    outliers = normal()
    outliers[rng.choice(n, size=6, replace=False)] *= 50.0
    constant_blocks = np.repeat(rng.uniform(-2, 2, size=n // 32), 32)
    constant_blocks[64:96] = -0.75  # a block whose values are all equal and negative
    ties = rng.integers(-16, 17, size=n) * 0.5  # many exact halves: rounding ties
    rows = [
        np.zeros(n),                 # 0: all zeros
        normal(),                    # 1: standard normal
        normal() * 1e-3,             # 2: small
        normal() * 1e-7,             # 3: tiny (f16 scales underflow: checked for exactness only)
        normal() * 5e3,              # 4: huge (f16 still holds the values)
        -np.abs(normal()),           # 5: negative only
        rng.uniform(0, 1, size=n),   # 6: positive only
        outliers,                    # 7: heavy outliers
        constant_blocks,             # 8: constant within each 32-block
        ties,                        # 9: exact rounding ties
    ]
    return np.stack(rows).astype(np.float32)


def reference_quantize(x: np.ndarray, t: T, ggml: Ggml | None) -> tuple[int, np.ndarray | None]:
    if t in (T.Q4_K, T.Q6_K):
        if ggml is None:
            return SOURCE_NONE, None
        return SOURCE_GGML, np.concatenate([ggml.quantize(row, t) for row in x])
    q = np.asarray(quants.quantize(x, t))
    ref = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
    if ggml is not None and t in GGML_QUANTIZERS:
        theirs = np.concatenate([ggml.quantize(row, t) for row in x])
        if not np.array_equal(theirs, ref):
            sys.exit(f"{t.name}: gguf-py and ggml quantize differently")
    return SOURCE_GGUF, ref


def write_quant(out: Path, x: np.ndarray, t: T, ggml: Ggml | None) -> int:
    source, ref = reference_quantize(x, t, ggml)
    ref_bytes = b"" if ref is None else ref.tobytes()
    path = out / f"quant_{type_name(t)}.bin"
    with open(path, "wb") as f:
        f.write(b"PQQU" + struct.pack("<6I", VERSION, int(t), x.shape[0], x.shape[1], source,
                                      len(ref_bytes)))
        f.write(x.astype("<f4").tobytes())
        f.write(ref_bytes)
    return path.stat().st_size


# ---------------------------------------------------------------------------------------------
# f16 / bf16 conversion vectors


def f16_patterns(rng: np.random.Generator) -> np.ndarray:
    edges = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0xFBFF,
             0x7C00, 0xFC00, 0x7C01, 0x7DFF, 0x7E00, 0x7FFF, 0xFE00, 0xFFFF]
    subnormal = rng.integers(1, 0x400, size=512) | (rng.integers(0, 2, size=512) << 15)
    anything = rng.integers(0, 1 << 16, size=1536)
    return np.concatenate([edges, subnormal, anything]).astype(np.uint16)


def f32_patterns(rng: np.random.Generator) -> np.ndarray:
    def bits(values) -> np.ndarray:
        return np.asarray(values, dtype=np.float32).view(np.uint32)

    # Exact ties for f16: an f16 normal's f32 bits plus half its last place (bit 12).
    f16_normals = rng.integers(0x0400, 0x7C00, size=256).astype(np.uint32)
    f16_normals |= rng.integers(0, 2, size=256).astype(np.uint32) << 15
    ties16 = (((f16_normals & 0x7FFF) << 13) + 0x38000000 + (1 << 12)) | ((f16_normals >> 15) << 31)
    sub_ties = bits([2.0**-25, 3 * 2.0**-25, 5 * 2.0**-25, 2.0**-25 * 1.0000001, 2.0**-26,
                     2.0**-14 - 2.0**-25, 2.0**-14 - 2.0**-26])
    overflow = bits([65504.0, -65504.0, 65519.996, 65520.0, -65520.0, 1e5, 3.4e38])
    specials = np.array([0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x7F800000, 0xFF800000,
                         0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0x7F7FFFFF],
                        dtype=np.uint32)
    bf16_ties = (rng.integers(0, 1 << 16, size=256).astype(np.uint32) << 16) | 0x8000
    bf16_ties = bf16_ties[(bf16_ties & 0x7F800000) != 0x7F800000]
    anything = rng.integers(0, 1 << 32, size=2048, dtype=np.uint64).astype(np.uint32)
    in_range = bits(rng.standard_normal(512) * 10.0 ** rng.uniform(-9, 5, size=512))
    return np.concatenate([specials, sub_ties, overflow, ties16, bf16_ties,
                           anything, in_range]).astype(np.uint32)


def write_fp16(out: Path, rng: np.random.Generator) -> int:
    import torch  # noqa: PLC0415  (only this part needs torch)

    h = f16_patterns(rng)
    h_to_f = h.view(np.float16).astype(np.float32).view(np.uint32)
    f = f32_patterns(rng)
    with np.errstate(over="ignore"):
        f_to_h = f.view(np.float32).astype(np.float16).view(np.uint16)
    f_to_bf = torch.from_numpy(f.view(np.float32).copy()).to(torch.bfloat16).view(torch.int16)
    f_to_bf = f_to_bf.numpy().view(np.uint16)
    path = out / "fp16.bin"
    with open(path, "wb") as fh:
        fh.write(b"PQHF" + struct.pack("<2I", VERSION, h.size))
        fh.write(h.astype("<u2").tobytes() + h_to_f.astype("<u4").tobytes())
        fh.write(struct.pack("<I", f.size))
        fh.write(f.astype("<u4").tobytes() + f_to_h.astype("<u2").tobytes()
                 + f_to_bf.astype("<u2").tobytes())
    return path.stat().st_size


# ---------------------------------------------------------------------------------------------
# Bulk quantization check: many generated rows, stored as one hash per row
#
# A handful of stored rows cannot show that every float operation of a quantizer is in ggml's
# order (a reordered sum changes about one Q4_K block in two hundred). So both this script and the
# C++ test generate the same 2048 rows of 256 floats from a counter-based generator that uses only
# integer arithmetic and single IEEE float32 operations (identical in numpy and C++), and the file
# stores the reference quantizer's FNV-1a-32 hash of each quantized row: 8 KiB instead of 2 MiB.
# The generator (mirrored in tests/unit/quant/fuzz_rows.h):
#   draw(k)  = mix64(seed + k * 0x9E3779B97F4A7C15) (splitmix64's finaliser, arithmetic mod 2^64)
#   u(z)     = float32(z >> 40) * 2^-24 in [0, 1);  sym(z) = 2 u(z) - 1 in [-1, 1) (both exact)
#   row r:   p = draw(8 * 256 * r + 7); kind = p % 8;
#            scale = 2^((p >> 8) % 22 - 12) * (1 + ((p >> 16) & 255) / 256) (exact; small enough
#            that every block scale fits in f16, even for the outlier rows)
#   element i = 256 r + j, with a..d = draw(8 i + 0..3), g = draw(8 (256 r + 32 (j / 32)) + 4):
#     kind 0 uniform        sym(a) * scale
#     kind 1 bell-shaped    (((sym(a) + sym(b)) + sym(c)) + sym(d)) * scale
#     kind 2 sparse         a % 10 < 7 ? 0 : sym(b) * scale
#     kind 3 negative only  -(u(a) * scale)
#     kind 4 positive only  u(a) * scale + scale   (two roundings, never fused)
#     kind 5 rounding ties  (float32(a % 41 - 20) * 0.25) * scale
#     kind 6 outliers       sym(a) * scale, times 64 when b % 64 == 0
#     kind 7 constant runs  sym(g) * scale

FUZZ_SEED = 0x5EED_0F_D0C5
FUZZ_ROWS = 2048
FUZZ_ROW = 256
FUZZ_TYPES = [T.Q8_0, T.Q4_0, T.Q4_K, T.Q6_K]
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _draw(k: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _mix64(np.uint64(FUZZ_SEED) + k.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def _u(z: np.ndarray) -> np.ndarray:
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def _sym(z: np.ndarray) -> np.ndarray:
    return np.float32(2) * _u(z) - np.float32(1)


def fuzz_rows() -> np.ndarray:
    r = np.arange(FUZZ_ROWS, dtype=np.uint64).reshape(-1, 1)  # (rows, 1)
    j = np.arange(FUZZ_ROW, dtype=np.uint64).reshape(1, -1)  # (1, 256)
    i = r * np.uint64(FUZZ_ROW) + j  # (rows, 256)
    p = _draw(np.uint64(8 * FUZZ_ROW) * r + np.uint64(7))  # (rows, 1)
    kind = (p % np.uint64(8)).astype(np.int64)
    exponent = ((p >> np.uint64(8)) % np.uint64(22)).astype(np.int32) - 12
    mantissa = np.float32(1) + ((p >> np.uint64(16)) & np.uint64(255)).astype(np.float32) / np.float32(256)
    scale = (mantissa * np.ldexp(np.float32(1), exponent)).astype(np.float32)  # exact
    a, b, c, d = (_draw(np.uint64(8) * i + np.uint64(s)) for s in range(4))
    g = _draw(np.uint64(8) * (r * np.uint64(FUZZ_ROW) + np.uint64(32) * (j // np.uint64(32))) + np.uint64(4))
    with np.errstate(over="ignore"):
        candidates = [
            _sym(a) * scale,
            (((_sym(a) + _sym(b)) + _sym(c)) + _sym(d)) * scale,
            np.where(a % np.uint64(10) < np.uint64(7), np.float32(0), _sym(b) * scale),
            -(_u(a) * scale),
            _u(a) * scale + scale,
            ((a % np.uint64(41)).astype(np.float32) - np.float32(20)) * np.float32(0.25) * scale,
            np.where(b % np.uint64(64) == np.uint64(0), _sym(a) * scale * np.float32(64), _sym(a) * scale),
            _sym(g) * scale,
        ]
    x = np.select([kind == k for k in range(8)], [np.broadcast_to(v, i.shape) for v in candidates])
    assert x.dtype == np.float32 and np.all(np.isfinite(x))
    return x


def fnv1a32(data: np.ndarray) -> np.ndarray:
    """FNV-1a-32 of each row of a (rows, bytes) uint8 array."""
    h = np.full(data.shape[0], 0x811C9DC5, dtype=np.uint32)
    with np.errstate(over="ignore"):
        for col in range(data.shape[1]):
            h = (h ^ data[:, col].astype(np.uint32)) * np.uint32(0x01000193)
    return h


def write_fuzz(out: Path, x: np.ndarray, t: T, ggml: Ggml | None) -> int:
    source, ref = reference_quantize(x, t, ggml)
    if ref is not None:  # no block scale may have overflowed f16 (Ponder rejects such rows)
        assert np.all(np.isfinite(quants.dequantize(ref.reshape(x.shape[0], -1), t))), t.name
    hashes = np.zeros(0, dtype=np.uint32) if ref is None else fnv1a32(ref.reshape(x.shape[0], -1))
    path = out / f"quant_fuzz_{type_name(t)}.bin"
    with open(path, "wb") as f:
        f.write(b"PQFZ" + struct.pack("<2IQ4I", VERSION, int(t), FUZZ_SEED, x.shape[0], x.shape[1],
                                      source, hashes.size))
        f.write(hashes.astype("<u4").tobytes())
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/unit/quant/data", type=Path)
    parser.add_argument("--ggml-lib", help="a ggml shared library exporting quantize_row_*_ref")
    parser.add_argument("--no-ggml", action="store_true",
                        help="write Q4_K / Q6_K inputs without reference bytes")
    args = parser.parse_args()

    lib_path = None if args.no_ggml else find_ggml_lib(args.ggml_lib)
    if lib_path is None and not args.no_ggml:
        sys.exit("Q4_K / Q6_K reference bytes need ggml's quantize_row_*_ref: pass --ggml-lib PATH "
                 "(or set PONDER_GGML_LIB), or --no-ggml to write those files without them")
    ggml = Ggml(lib_path) if lib_path else None

    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    total = 0
    for t in DEQUANT_TYPES:
        total += write_dequant(args.out, rng, t, ggml)
    x = quant_inputs(rng)
    for t in QUANT_TYPES:
        total += write_quant(args.out, x, t, ggml)
    total += write_fp16(args.out, rng)
    xf = fuzz_rows()
    for t in FUZZ_TYPES:
        total += write_fuzz(args.out, xf, t, ggml)
    rng_iq = np.random.default_rng(IQ_SEED)
    for t in DEQUANT_TYPES_IQ:
        total += write_dequant(args.out, rng_iq, t, ggml)
    rng_grid = np.random.default_rng(IQ_GRID_SEED)
    for t in DEQUANT_TYPES_IQ_GRID:
        total += write_dequant(args.out, rng_grid, t, ggml)
    n_files = (len(DEQUANT_TYPES) + len(DEQUANT_TYPES_IQ) + len(DEQUANT_TYPES_IQ_GRID) + len(QUANT_TYPES)
               + len(FUZZ_TYPES) + 1)
    print(f"wrote {n_files} files, {total} bytes, to {args.out}"
          + ("" if ggml else " (no ggml: Q4_K / Q6_K without reference bytes)"))


if __name__ == "__main__":
    main()
