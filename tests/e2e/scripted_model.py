"""Writes a "scripted" Qwen2 GGUF for end-to-end tests: a real model file whose greedy (and, by a
wide margin, sampled) next token depends only on the current token, following a script of edges
such as  <think> -> "Let me check." -> </think> -> "<tool_call>…</tool_call>" -> <|im_end|>.
So a server test can see reasoning, answers and tool calls come out of the whole stack (engine,
sampler, detokenizer, parsers, HTTP) exactly as a real reasoning model would produce them.

How: one layer whose attention and MLP outputs are zero, so the final hidden state is the token's
embedding. Each scripted source token has its own one-hot embedding slot; every other token shares
slot 0 (the "default" edge). The output matrix maps a slot to its target token with a logit of
10 * sqrt(hidden) ≈ 57, all other logits 0. The vocabulary is the golden qwen2 tokenizer's plus
the script's texts as added tokens. Uses the gguf package, independently of Ponder."""
import os

import gguf
import numpy as np

import reasoning_model

HIDDEN = 32
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n<think>{% endif %}")


def write(path, edges, default):
    """edges: list of (source text, target text); default: the target of every other token.
    Texts that are not yet tokens of the vocabulary become added tokens."""
    r = reasoning_model.gguf.GGUFReader(reasoning_model.GOLDEN)
    fv = reasoning_model.field_value
    tokens = fv(r, "tokenizer.ggml.tokens")
    merges = fv(r, "tokenizer.ggml.merges")
    types = fv(r, "tokenizer.ggml.token_type")
    for i, text in reasoning_model.RENAMED.items():
        merges = [m for m in merges if m.replace(" ", "", 1) != tokens[i]]
        tokens[i], types[i] = text, gguf.TokenType.USER_DEFINED

    def token(text):
        if text not in tokens:
            tokens.append(text)
            types.append(gguf.TokenType.USER_DEFINED)
        return tokens.index(text)

    ids = [(token(a), token(b)) for a, b in edges]
    default_id = token(default)
    assert len(ids) < HIDDEN, "one embedding slot per scripted source"
    vocab = len(tokens)
    embed = np.zeros((vocab, HIDDEN), np.float32)
    embed[:, 0] = 1.0
    out = np.zeros((vocab, HIDDEN), np.float32)
    out[default_id, 0] = 10.0
    for slot, (a, b) in enumerate(ids, start=1):
        embed[a] = 0.0
        embed[a, slot] = 1.0
        out[b, slot] = 10.0

    w = gguf.GGUFWriter(path, "qwen2")
    w.add_uint32("qwen2.block_count", 1)
    w.add_uint32("qwen2.context_length", 4096)
    w.add_uint32("qwen2.embedding_length", HIDDEN)
    w.add_uint32("qwen2.feed_forward_length", HIDDEN)
    w.add_uint32("qwen2.attention.head_count", 2)
    w.add_uint32("qwen2.attention.head_count_kv", 1)
    w.add_float32("qwen2.rope.freq_base", 1e6)
    w.add_float32("qwen2.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_name("Scripted Reasoner")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types(types)
    w.add_eos_token_id(fv(r, "tokenizer.ggml.eos_token_id"))
    w.add_chat_template(TEMPLATE)
    zeros = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    ones = lambda n: np.ones(n, np.float32)  # noqa: E731
    w.add_tensor("token_embd.weight", embed)
    w.add_tensor("output.weight", out)
    w.add_tensor("output_norm.weight", ones(HIDDEN))
    w.add_tensor("blk.0.attn_norm.weight", ones(HIDDEN))
    w.add_tensor("blk.0.ffn_norm.weight", ones(HIDDEN))
    w.add_tensor("blk.0.attn_q.weight", zeros(HIDDEN, HIDDEN))
    w.add_tensor("blk.0.attn_q.bias", zeros(HIDDEN))
    w.add_tensor("blk.0.attn_k.weight", zeros(HIDDEN // 2, HIDDEN))
    w.add_tensor("blk.0.attn_k.bias", zeros(HIDDEN // 2))
    w.add_tensor("blk.0.attn_v.weight", zeros(HIDDEN // 2, HIDDEN))
    w.add_tensor("blk.0.attn_v.bias", zeros(HIDDEN // 2))
    w.add_tensor("blk.0.attn_output.weight", zeros(HIDDEN, HIDDEN))
    w.add_tensor("blk.0.ffn_gate.weight", zeros(HIDDEN, HIDDEN))
    w.add_tensor("blk.0.ffn_up.weight", zeros(HIDDEN, HIDDEN))
    w.add_tensor("blk.0.ffn_down.weight", zeros(HIDDEN, HIDDEN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


THOUGHT = "Let me check the weather."
TOOL_CALL = '\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
LOOP = " I keep thinking."
ANSWER = "The answer is 42."


def write_tool_caller(path):
    """Thinks one sentence, then calls get_weather(city=Paris) and ends the turn."""
    return write(path, [("<think>", THOUGHT), (THOUGHT, "</think>"), ("</think>", TOOL_CALL), (TOOL_CALL, "<|im_end|>")],
                 default="<|im_end|>")


def write_thinker(path):
    """Thinks one sentence, then answers and ends the turn."""
    return write(path, [("<think>", THOUGHT), (THOUGHT, "</think>"), ("</think>", ANSWER), (ANSWER, "<|im_end|>")],
                 default="<|im_end|>")


def write_overthinker(path):
    """Thinks forever (one sentence over and over); anything else it sees leads to the answer."""
    return write(path, [("<think>", LOOP), (LOOP, LOOP), (ANSWER, "<|im_end|>")], default=ANSWER)


if __name__ == "__main__":
    import sys
    write_tool_caller(os.path.join(sys.argv[1], "tool-caller.gguf"))
    write_overthinker(os.path.join(sys.argv[1], "overthinker.gguf"))
