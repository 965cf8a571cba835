#!/usr/bin/env python3
"""Writes the small reference files that tests/unit/io/vectors_test.cpp reads back.

The files are made by the ecosystem's own writers (the `gguf` package that llama.cpp maintains and
the `safetensors` package), so the test checks Ponder against them rather than against itself.
Tensor values follow simple formulas that the C++ test recomputes; keep the two in step.
tiny.gguf is byte-for-byte reproducible; tiny.safetensors is not quite, because the safetensors
package writes its __metadata__ entries in hash-map order, which the reader ignores anyway.

Usage: python3 tools/make_io_vectors.py [OUT_DIR]   (default: tests/unit/io/data)
"""

import os
import sys

import numpy as np


def f32_values(n):
    # Exactly representable in f32 and f16.
    return np.array([i * 0.5 - 2.0 for i in range(n)], dtype=np.float32)


def write_gguf(path):
    import gguf

    w = gguf.GGUFWriter(path, arch="llama")
    w.add_custom_alignment(64)
    w.add_name("tiny")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld")
    w.add_array("test.strings", ["a", "bc", ""])
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.25, -0.5])
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_array("test.nested_strings", [["x"], ["y", "z"]])

    # Shapes are numpy's (outermost first); the gguf package writes them reversed.
    w.add_tensor("tok_embd.weight", f32_values(12).reshape(3, 4))
    w.add_tensor("blk.0.attn_q.weight", (np.arange(16, dtype=np.float32) * 0.25 - 2.0).astype(np.float16).reshape(2, 8))
    w.add_tensor("blk.0.cube", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    w.add_tensor("pos.ids", np.array([0, -1, 2, -3, 4], dtype=np.int32))
    # Two Q8_0 blocks (one per row): an f16 scale of 0.5, then 32 int8 quants.
    rows = []
    for r in range(2):
        scale = np.array([0.5], dtype=np.float16).view(np.uint8)
        qs = np.array([(i - 16) if r == 0 else (16 - i) for i in range(32)], dtype=np.int8).view(np.uint8)
        rows.append(np.concatenate([scale, qs]))
    w.add_tensor("blk.0.ffn_down.weight", np.stack(rows), raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_safetensors(path):
    import torch
    from safetensors.torch import save_file

    tensors = {
        "a.weight": torch.from_numpy(f32_values(6).reshape(2, 3)),
        "b.bias": torch.from_numpy(f32_values(4)).to(torch.float16),
        "c.bf16": torch.from_numpy(f32_values(8).reshape(2, 4)).to(torch.bfloat16),
        "d.ids": torch.tensor([7, -8, 9], dtype=torch.int64),
        "e.scalar": torch.tensor(2.5, dtype=torch.float64),
        "f.i8": torch.tensor([-1, 2, -3], dtype=torch.int8),
    }
    save_file(tensors, path, metadata={"format": "pt", "note": "ponder io vectors"})


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "unit", "io", "data")
    os.makedirs(out_dir, exist_ok=True)
    write_gguf(os.path.join(out_dir, "tiny.gguf"))
    write_safetensors(os.path.join(out_dir, "tiny.safetensors"))
    for name in ("tiny.gguf", "tiny.safetensors"):
        print(name, os.path.getsize(os.path.join(out_dir, name)), "bytes")


if __name__ == "__main__":
    main()
