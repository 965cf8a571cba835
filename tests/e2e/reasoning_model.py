"""Writes a tiny reasoning chat model for end-to-end tests: the golden qwen2 weights (random,
tests/golden/data/qwen2) with <think>, </think> and <tool_call> in the vocabulary and a ChatML
template that opens the thought, as QwQ's does. Uses the gguf package, independently of Ponder."""
import os
import tempfile
import unittest

import gguf
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden", "data", "qwen2", "model-f32.gguf")
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}")
RENAMED = {314: "<think>", 315: "</think>", 316: "<tool_call>"}


def field_value(reader, key):
    f = reader.fields[key]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]


def write(path):
    r = gguf.GGUFReader(GOLDEN)
    tokens = field_value(r, "tokenizer.ggml.tokens")
    merges = field_value(r, "tokenizer.ggml.merges")
    types = field_value(r, "tokenizer.ggml.token_type")
    for i, text in RENAMED.items():
        merges = [m for m in merges if m.replace(" ", "", 1) != tokens[i]]
        tokens[i], types[i] = text, gguf.TokenType.USER_DEFINED
    w = gguf.GGUFWriter(path, "qwen2")
    for key in ["qwen2.block_count", "qwen2.context_length", "qwen2.embedding_length", "qwen2.feed_forward_length",
                "qwen2.attention.head_count", "qwen2.attention.head_count_kv"]:
        w.add_uint32(key, field_value(r, key))
    w.add_float32("qwen2.rope.freq_base", field_value(r, "qwen2.rope.freq_base"))
    w.add_float32("qwen2.attention.layer_norm_rms_epsilon", field_value(r, "qwen2.attention.layer_norm_rms_epsilon"))
    w.add_name("Tiny Reasoner")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types(types)
    w.add_eos_token_id(field_value(r, "tokenizer.ggml.eos_token_id"))
    w.add_chat_template(TEMPLATE)
    for t in r.tensors:
        w.add_tensor(t.name, np.array(t.data), raw_shape=list(reversed(t.shape.tolist())), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


class ReasoningModelTest(unittest.TestCase):
    """A test case with the tiny reasoning model written once per class into a temporary folder
    (self.model; self.dir is the folder)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.model = write(os.path.join(cls.dir.name, "tiny-reasoner.gguf"))

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()
