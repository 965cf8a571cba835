#!/usr/bin/env python3
"""Render every chat template x conversation with Python Jinja2, exactly as Hugging Face transformers
does in apply_chat_template, into golden files for Ponder's C++ template engine.

The environment below is transformers' (utils/chat_template_utils.py, _cached_compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
tojson overridden by json.dumps(ensure_ascii=False, ...), raise_exception and strftime_now as
globals, namespace that refuses underscore names. The context is render_jinja_template's: messages
(with reasoning fields aliased as transformers 5 does), tools, documents=None,
add_generation_prompt, the special tokens, then the extra keyword arguments. When transformers is
importable, each result is also checked against transformers' own render_jinja_template.

Inputs:  --templates DIR (the model templates, *.jinja; default /work/shared/templates)
         tests/golden/templates/conversations.json
         tests/golden/templates/snippets.json   (small templates, one per language feature, with a context)
Outputs: tests/golden/templates/source/*.jinja       (copies of the templates, so the test is self-contained)
         tests/golden/templates/templates.json       (file name -> bos/eos tokens)
         tests/golden/templates/expected/<template>/<conversation>.txt    rendered prompt, or
         tests/golden/templates/expected/<template>/<conversation>.error  {"type": ..., "message": ...}
         tests/golden/templates/expected/snippets.json  name -> {"output": ...} or {"error": {"type", "message"}}

Usage: python3 tools/render_templates.py [--templates DIR]
"""

import argparse
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "templates"

# Special tokens of each model's tokenizer (tokenizer_config.json), passed as transformers passes
# special_tokens_map. None: the tokenizer has no such token and the variable is left undefined.
SPECIAL_TOKENS = {
    "Qwen-QwQ-32B.jinja": {"bos_token": None, "eos_token": "<|im_end|>"},
    "Qwen-Qwen2.5-7B-Instruct.jinja": {"bos_token": None, "eos_token": "<|im_end|>"},
    "Qwen-Qwen3-0.6B.jinja": {"bos_token": None, "eos_token": "<|im_end|>"},
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": {
        "bos_token": "<｜begin▁of▁sentence｜>",
        "eos_token": "<｜end▁of▁sentence｜>",
    },
    "meta-llama-Llama-3.1-8B-Instruct.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
}

REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


class GenerationTracker(jinja2.ext.Extension):
    """transformers' AssistantTracker as far as rendering goes: {% generation %}...{% endgeneration %}
    renders its body (as a call block, so assignments inside do not leak)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_environment() -> ImmutableSandboxedEnvironment:
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"underscore-prefixed namespace attribute {name!r}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = dict
    env.globals["namespace"] = TemplateNamespace
    return env


def alias_reasoning_fields(messages):
    out = []
    for message in messages:
        reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def render(env, source, tokens, conv):
    kwargs = {k: v for k, v in tokens.items() if v is not None}
    kwargs.update(conv.get("extra", {}))
    template = env.from_string(source)
    return template.render(
        messages=alias_reasoning_fields(conv["messages"]),
        tools=conv["tools"],
        documents=None,
        add_generation_prompt=conv["add_generation_prompt"],
        **kwargs,
    )


def render_with_transformers(source, tokens, conv):
    """transformers' own renderer, or None when transformers is not installed."""
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError:
        return None
    kwargs = {k: v for k, v in tokens.items() if v is not None}
    kwargs.update(conv.get("extra", {}))
    rendered, _ = render_jinja_template(
        conversations=[json.loads(json.dumps(conv["messages"]))],
        tools=conv["tools"],
        chat_template=source,
        add_generation_prompt=conv["add_generation_prompt"],
        **kwargs,
    )
    return rendered[0]


def render_snippets(env):
    """Each snippet rendered in the same environment with its own context."""
    snippets = json.loads((GOLDEN / "snippets.json").read_text(encoding="utf-8"))
    results = {}
    for snippet in snippets:
        try:
            results[snippet["name"]] = {"output": env.from_string(snippet["template"]).render(**snippet["context"])}
        except Exception as e:  # noqa: BLE001 - failures are part of the golden data
            results[snippet["name"]] = {"error": {"type": type(e).__name__, "message": str(e)}}
    path = GOLDEN / "expected" / "snippets.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    n_err = sum("error" in r for r in results.values())
    print(f"{len(results)} snippets ({n_err} expected to fail)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--templates", type=Path, default=Path("/work/shared/templates"))
    args = parser.parse_args()

    conversations = json.loads((GOLDEN / "conversations.json").read_text(encoding="utf-8"))
    env = make_environment()
    source_dir, expected_dir = GOLDEN / "source", GOLDEN / "expected"
    shutil.rmtree(expected_dir, ignore_errors=True)
    source_dir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    n_ok = n_err = n_checked = 0
    for path in sorted(args.templates.glob("*.jinja")):
        if path.name not in SPECIAL_TOKENS:
            print(f"error: no special tokens known for {path.name}; add it to SPECIAL_TOKENS", file=sys.stderr)
            return 1
        tokens = SPECIAL_TOKENS[path.name]
        shutil.copyfile(path, source_dir / path.name)
        manifest[path.name] = tokens
        # Read as transformers does: the file's text, newlines untouched.
        source = path.read_bytes().decode("utf-8")
        out_dir = expected_dir / path.stem
        out_dir.mkdir(parents=True)
        for conv in conversations:
            try:
                text = render(env, source, tokens, conv)
            except Exception as e:  # noqa: BLE001 - any template failure is a golden result
                error = {"type": type(e).__name__, "message": str(e)}
                (out_dir / f"{conv['name']}.error").write_text(json.dumps(error, ensure_ascii=False) + "\n", encoding="utf-8")
                n_err += 1
                continue
            reference = render_with_transformers(source, tokens, conv)
            if reference is not None:
                n_checked += 1
                if reference != text:
                    print(f"error: {path.name} x {conv['name']}: differs from transformers' renderer", file=sys.stderr)
                    return 1
            (out_dir / f"{conv['name']}.txt").write_bytes(text.encode("utf-8"))
            n_ok += 1
    render_snippets(env)
    (GOLDEN / "templates.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{n_ok} rendered ({n_checked} also checked against transformers), {n_err} template errors, "
          f"{len(manifest)} templates x {len(conversations)} conversations; jinja2 {jinja2.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
