#!/usr/bin/env python3
"""Pretrain LoRA Lab's bundled sample base model (samples/model/) from scratch.

What it does
------------
1. Reads the King James Bible from Debian's `bible-kjv` + `bible-kjv-text`
   packages (`bible -f gen1:1-rev22:21`: one verse per line, 31,102 verses,
   1,189 chapters) and checks it is the text this recipe expects (SHA-256).
2. Holds out every 20th chapter (chapter index i with i % 20 == 10, 59
   chapters) as validation text; the other 1,130 chapters are training text.
   A chapter is one document: its verses, one per line, then <|endoftext|>.
3. Trains a byte-level BPE tokenizer (Hugging Face `tokenizers`, GPT-2's
   pre-tokenizer) on the training chapters: 4,096 ids, of which ids 0-2 are
   the special tokens <|endoftext|>, <|im_start|>, <|im_end|>.
4. Pretrains a GPT-2 (GPT2LMHeadModel: 4 layers, 256 wide, 4 heads, 256
   positions, tied LM head; 4.27M parameters) with torch on the CPU: random
   256-token windows of the packed training stream, AdamW, warmup + cosine.
5. Saves the model (save_pretrained, safetensors, float32), the tokenizer
   (tokenizer.json + tokenizer_config.json with a ChatML chat_template), a
   model card (README.md) with the recipe and the measured curve, and the
   golden values the TypeScript tests compare against
   (test/fixtures/sample-golden.json).

Everything is seeded; on the same torch build and thread count a rerun gives
the same tokenizer, the same batches and (CPU float32) the same weights.

How to run
----------
    apt-get install -y bible-kjv bible-kjv-text
    /work/pyref/bin/pip install -r scripts/requirements-ref.txt
    /work/pyref/bin/python scripts/pretrain_sample.py            # 41 min on 2 shared cores (1,560 tokens/s)
    /work/pyref/bin/python scripts/pretrain_sample.py --benchmark 20   # tokens/s only
    /work/pyref/bin/python scripts/pretrain_sample.py --golden-only    # rewrite the golden from samples/model

Then regenerate the datasets, whose truncation depends on the tokenizer:
    /work/pyref/bin/python scripts/make_sample_datasets.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "samples" / "model"
DEFAULT_GOLDEN = ROOT / "test" / "fixtures" / "sample-golden.json"

# ---------------------------------------------------------------- the source
BIBLE_CMD = ["bible", "-f", "gen1:1-rev22:21"]
# SHA-256 of that command's output with bible-kjv 4.38 / bible-kjv-text 4.38 (Debian 12).
KJV_SHA256 = "cd45f0c9cedab8e4439bd6486c8952c77cc8b0ecc5d1f6ae3513f2039f47229d"
KJV_VERSES = 31102
KJV_CHAPTERS = 1189
VALID_EVERY = 20  # chapter i is validation text when i % VALID_EVERY == VALID_OFFSET
VALID_OFFSET = 10

# ------------------------------------------------------------- the tokenizer
EOT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [EOT, IM_START, IM_END]
VOCAB_SIZE = 4096
# ChatML; the generation prompt is added only when asked, so assistant turns can be delimited.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# ------------------------------------------------------------------ the model
N_LAYER = 4
N_EMBD = 256
N_HEAD = 4
N_POSITIONS = 256

# --------------------------------------------------------------- the recipe
SEED = 1611
BLOCK = 256  # tokens per training window (= n_positions, so every position is trained)
BATCH = 16  # windows per step: 4,096 tokens
STEPS = 900
PEAK_LR = 1e-3
MIN_LR = 1e-4
WARMUP = 100
WEIGHT_DECAY = 0.1  # on 2-D weights only
BETAS = (0.9, 0.95)
CLIP = 1.0
EVAL_EVERY = 100
THREADS = int(os.environ.get("PRETRAIN_THREADS", "1"))


def log(msg: str) -> None:
    print(msg, flush=True)


# ===================================================================== corpus
def read_kjv() -> tuple[str, list[tuple[str, int, list[str]]]]:
    """The raw `bible` output and its chapters as (book abbreviation, chapter, verses)."""
    if shutil.which(BIBLE_CMD[0]) is None:
        sys.exit("`bible` not found: apt-get install -y bible-kjv bible-kjv-text")
    raw = subprocess.run(BIBLE_CMD, check=True, capture_output=True, text=True).stdout
    chapters: list[tuple[str, int, list[str]]] = []
    line_re = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.+)$")
    verses = 0
    for line in raw.splitlines():
        m = line_re.match(line)
        if not m:
            sys.exit(f"unexpected line in the bible output: {line!r}")
        book, chap, text = m.group(1), int(m.group(2)), m.group(4).strip()
        if not chapters or chapters[-1][0] != book or chapters[-1][1] != chap:
            chapters.append((book, chap, []))
        chapters[-1][2].append(text)
        verses += 1
    if verses != KJV_VERSES or len(chapters) != KJV_CHAPTERS:
        sys.exit(f"expected {KJV_VERSES} verses in {KJV_CHAPTERS} chapters, read {verses} in {len(chapters)}")
    return raw, chapters


def split_chapters(chapters):
    train, valid = [], []
    for i, (_book, _chap, verses) in enumerate(chapters):
        (valid if i % VALID_EVERY == VALID_OFFSET else train).append("\n".join(verses))
    return train, valid


# ================================================================== tokenizer
def train_tokenizer(docs: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    if tok.get_vocab_size() != VOCAB_SIZE:
        sys.exit(f"tokenizer has {tok.get_vocab_size()} ids, expected {VOCAB_SIZE}")
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, s
    return tok


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOT,
        eos_token=EOT,
        unk_token=EOT,
        pad_token=EOT,
        additional_special_tokens=[IM_START, IM_END],
        model_max_length=N_POSITIONS,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        add_prefix_space=False,
    )


def save_tokenizer(hf_tok: PreTrainedTokenizerFast, out: Path) -> None:
    hf_tok.save_pretrained(str(out))
    # Keep the template in tokenizer_config.json (what most readers look at), not a side file.
    side = out / "chat_template.jinja"
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    if side.exists():
        side.unlink()
    # Portable across transformers 4 and 5: the generic fast-tokenizer class, and the extra
    # special tokens under the key both versions read.
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.pop("backend", None)
    extra = cfg.pop("extra_special_tokens", None) or [IM_START, IM_END]
    cfg["additional_special_tokens"] = list(extra)
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    for extra in ("special_tokens_map.json",):
        p = out / extra
        if p.exists():
            p.unlink()


def encode_docs(tok: Tokenizer, docs: list[str], eot_id: int) -> torch.Tensor:
    ids: list[int] = []
    for enc in tok.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eot_id)
    return torch.tensor(ids, dtype=torch.long)


# ====================================================================== model
def make_model() -> GPT2LMHeadModel:
    cfg = GPT2Config(
        vocab_size=VOCAB_SIZE,
        n_positions=N_POSITIONS,
        n_embd=N_EMBD,
        n_layer=N_LAYER,
        n_head=N_HEAD,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    cfg.architectures = ["GPT2LMHeadModel"]
    return GPT2LMHeadModel(cfg)


def lr_at(step: int, steps: int) -> float:
    """Linear warmup to PEAK_LR, then cosine to MIN_LR at the last step (step is 0-based)."""
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    p = (step - WARMUP) / max(1, steps - 1 - WARMUP)
    return MIN_LR + 0.5 * (PEAK_LR - MIN_LR) * (1 + math.cos(math.pi * min(1.0, p)))


def windows(stream: torch.Tensor, length: int, offset: int) -> torch.Tensor:
    n = (stream.numel() - offset) // length
    return stream[offset : offset + n * length].view(n, length)


class Batches:
    """Epochs over the packed stream: each epoch shifts the window grid by a random offset and shuffles."""

    def __init__(self, stream: torch.Tensor, rng: random.Random):
        self.stream, self.rng = stream, rng
        self.epoch = 0
        self._next_epoch()

    def _next_epoch(self):
        offset = 0 if self.epoch == 0 else self.rng.randrange(BLOCK)
        self.blocks = windows(self.stream, BLOCK, offset)
        self.order = list(range(self.blocks.shape[0]))
        self.rng.shuffle(self.order)
        self.pos = 0
        self.epoch += 1

    def next(self) -> torch.Tensor:
        if self.pos + BATCH > len(self.order):
            self._next_epoch()
        idx = self.order[self.pos : self.pos + BATCH]
        self.pos += BATCH
        return self.blocks[idx]


@torch.no_grad()
def evaluate(model, blocks: torch.Tensor) -> float:
    """Mean next-token loss over every predicted token of the validation windows."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, blocks.shape[0], 32):
        x = blocks[i : i + 32]
        logits = model(input_ids=x).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += x[:, 1:].numel()
    model.train()
    return total / count


def pretrain(model, train_stream, valid_blocks, steps: int, benchmark: int = 0):
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=PEAK_LR,
        betas=BETAS,
        eps=1e-8,
    )
    batches = Batches(train_stream, rng)
    curve = []
    run_loss, run_n = 0.0, 0
    model.train()
    t0 = time.time()
    train_time = 0.0
    total = benchmark or steps
    if not benchmark:
        v = evaluate(model, valid_blocks)
        curve.append({"step": 0, "tokens": 0, "train_loss": None, "val_loss": v, "minutes": 0.0})
        log(f"step     0  val {v:.4f}")
    for step in range(total):
        ts = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps)
        x = batches.next()
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        train_time += time.time() - ts
        run_loss += loss.item()
        run_n += 1
        done = step + 1
        if benchmark:
            if done == 3:
                train_time, bench_start = 0.0, done
            continue
        if done % EVAL_EVERY == 0 or done == steps:
            v = evaluate(model, valid_blocks)
            tr = run_loss / run_n
            run_loss, run_n = 0.0, 0
            minutes = (time.time() - t0) / 60
            curve.append({"step": done, "tokens": done * BATCH * BLOCK, "epoch": round(done * BATCH * BLOCK / train_stream.numel(), 2), "train_loss": tr, "val_loss": v, "minutes": round(minutes, 1)})
            log(f"step {done:5d}  train {tr:.4f}  val {v:.4f}  lr {lr_at(step, steps):.2e}  {done * BATCH * BLOCK / train_time:.0f} tok/s  {minutes:.1f} min")
    if benchmark:
        n = total - bench_start
        return {"tokens_per_s": n * BATCH * BLOCK / train_time, "s_per_step": train_time / n}
    return {"curve": curve, "wall_s": time.time() - t0, "train_s": train_time, "tokens_per_s": steps * BATCH * BLOCK / train_time}


# ===================================================================== golden
GOLDEN_TEXT = "And God said, Let there be light: and there was light. CYNIC, n. A blackguard whose faulty vision sees things as they are, not as they ought to be."
GOLDEN_IDS_TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "Blessed are the meek: for they shall inherit the earth.",
]
GOLDEN_CHAT = [
    {"role": "system", "content": "You answer in one sentence."},
    {"role": "user", "content": "Define: Cynic"},
    {"role": "assistant", "content": "A blackguard whose faulty vision sees things as they are."},
]
LOGIT_COLUMNS = list(range(16)) + list(range(16, VOCAB_SIZE, 97))


def f32(x: float) -> float:
    """Shortest decimal that round-trips the float32 value."""
    import struct

    v = struct.unpack("f", struct.pack("f", float(x)))[0]
    for digits in range(6, 10):
        s = float(f"{v:.{digits}g}")
        if struct.unpack("f", struct.pack("f", s))[0] == v:
            return s
    return v


def make_golden(out: Path, valid_docs: list[str]) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    hf_tok = AutoTokenizer.from_pretrained(str(out))
    raw_tok = Tokenizer.from_file(str(out / "tokenizer.json"))

    ids_round = raw_tok.encode(GOLDEN_TEXT, add_special_tokens=False).ids
    assert raw_tok.decode(ids_round, skip_special_tokens=False) == GOLDEN_TEXT, "tokenizer round trip"
    assert hf_tok(GOLDEN_TEXT)["input_ids"] == ids_round, "AutoTokenizer adds nothing around a text"

    rows = [raw_tok.encode(t).ids for t in GOLDEN_IDS_TEXTS]
    T = min(len(r) for r in rows)
    rows = [r[:T] for r in rows]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(rows)).logits
    sliced = [[[f32(logits[b, t, c]) for c in LOGIT_COLUMNS] for t in range(T)] for b in range(len(rows))]
    argmax = logits.argmax(-1).tolist()

    # Held-out text: the first 128 tokens of the first validation chapter, and its mean loss.
    valid_ids = raw_tok.encode(valid_docs[0]).ids[:128]
    with torch.no_grad():
        v_loss = model(input_ids=torch.tensor([valid_ids]), labels=torch.tensor([valid_ids])).loss.item()

    rendered = hf_tok.apply_chat_template(GOLDEN_CHAT, tokenize=False)
    prompt = hf_tok.apply_chat_template(GOLDEN_CHAT[:2], tokenize=False, add_generation_prompt=True)
    chat_ids = raw_tok.encode(rendered, add_special_tokens=False).ids
    return {
        "note": "Reference values for samples/model from PyTorch + transformers (scripts/pretrain_sample.py), eager attention, float32.",
        "vocab_size": VOCAB_SIZE,
        "text": GOLDEN_TEXT,
        "text_ids": ids_round,
        "input_ids": rows,
        "logit_columns": LOGIT_COLUMNS,
        "logits": sliced,
        "argmax": argmax,
        "valid_ids": valid_ids,
        "valid_loss": f32(v_loss),
        "chat_messages": GOLDEN_CHAT,
        "chat_rendered": rendered,
        "chat_prompt": prompt,
        "chat_ids": chat_ids,
    }


# ================================================================= model card
def write_card(out: Path, info: dict) -> None:
    curve = info["curve"]
    def row(c: dict) -> str:
        train = "—" if c["train_loss"] is None else f"{c['train_loss']:.3f}"
        return f"| {c['step']} | {c['tokens'] / 1e6:.2f}M | {c.get('epoch', 0):.2f} | {train} | {c['val_loss']:.3f} | {math.exp(c['val_loss']):.1f} |"

    rows = "\n".join(row(c) for c in curve)
    last = curve[-1]
    card = f"""---
language: en
license: mit
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, tiny, lora-lab, sample]
---

# LoRA Lab sample model: a tiny GPT-2 pretrained on the King James Bible

The base model bundled with LoRA Lab so that a fresh clone can train, evaluate and merge a LoRA
adapter without downloading anything. It is a real (if very small) language model: it writes
King-James-flavoured English, so a LoRA adapter visibly changes what it writes (one epoch of the
`samples/datasets/devil/` task, a few minutes on two CPU cores, turns its scripture into short,
dictionary-like sentences that end where a definition ends).

| | |
| --- | --- |
| architecture | `GPT2LMHeadModel`: {N_LAYER} layers, n_embd {N_EMBD}, {N_HEAD} heads, MLP {4 * N_EMBD}, gelu_new, tied LM head |
| parameters | {info['params']:,} ({info['file_mb']:.1f} MB as float32 safetensors) |
| context | {N_POSITIONS} tokens |
| tokenizer | byte-level BPE (GPT-2's pre-tokenizer), {VOCAB_SIZE:,} ids: `<|endoftext|>` = 0 (BOS/EOS/PAD), `<|im_start|>` = 1, `<|im_end|>` = 2 |
| chat template | ChatML (`<|im_start|>role\\n…<|im_end|>\\n`), honours `add_generation_prompt` |
| final loss | train {info['final_train']:.3f}, validation {last['val_loss']:.3f} (perplexity {math.exp(last['val_loss']):.1f}; uniform would be ln {VOCAB_SIZE} = {math.log(VOCAB_SIZE):.2f}) |

## Data

The Authorized (King James) Version, as printed by `bible -f gen1:1-rev22:21` from Debian's
`bible-kjv` / `bible-kjv-text` 4.38 packages: {KJV_VERSES:,} verses in {KJV_CHAPTERS:,} chapters,
4.4 MB of ASCII text (SHA-256 of that output: `{info['sha256']}`). Each chapter is one document:
its verses, one per line without references, then `<|endoftext|>`. Every 20th chapter
(index i with i mod 20 = 10, {info['valid_chapters']} chapters, e.g. Genesis 11) is held out for
validation and never trained on, tokenizer included.

| split | chapters | tokens |
| --- | --- | --- |
| train | {info['train_chapters']:,} | {info['train_tokens']:,} |
| validation | {info['valid_chapters']} | {info['valid_tokens']:,} |

## Training recipe

`scripts/pretrain_sample.py` (seed {SEED}) regenerates this folder: tokenizer trained with
Hugging Face `tokenizers` (BpeTrainer, vocab {VOCAB_SIZE}, min frequency 2, the 256 byte symbols
as initial alphabet) on the training chapters; model initialised as transformers does
(`GPT2LMHeadModel(config)` after `torch.manual_seed`), then trained on random {BLOCK}-token
windows of the packed training stream (the window grid shifts by a random offset each epoch),
{BATCH} windows ({BATCH * BLOCK:,} tokens) per step, {info['steps']:,} steps
({info['steps'] * BATCH * BLOCK / 1e6:.2f}M tokens, {info['epochs']:.1f} epochs), AdamW (betas
{BETAS[0]}, {BETAS[1]}, weight decay {WEIGHT_DECAY} on matrices), learning rate warmed up
linearly to {PEAK_LR:g} over {WARMUP} steps then cosine to {MIN_LR:g}, gradient norm clipped at
{CLIP}, no dropout, float32, `torch.set_num_threads({THREADS})`.

Measured on 2 shared CPU cores with torch {torch.__version__}: {info['tokens_per_s']:,.0f}
training tokens/s, {info['wall_s'] / 60:.1f} minutes in all (evaluations included).

| step | tokens | epoch | train loss | validation loss | validation perplexity |
| --- | --- | --- | --- | --- | --- |
{rows}

Train loss is the mean over the steps since the previous row; validation loss is over every
predicted token of the held-out chapters cut into {BLOCK}-token windows.

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("samples/model")
model = AutoModelForCausalLM.from_pretrained("samples/model")
ids = tok("And the LORD said unto Moses,", return_tensors="pt").input_ids
print(tok.decode(model.generate(ids, max_new_tokens=40, do_sample=False)[0]))
```

Sample (greedy, from the script): `{info['sample']}`

It is a toy: {info['params'] / 1e6:.1f}M parameters trained for {info['wall_s'] / 60:.0f} minutes on one
book. It is meant for trying LoRA Lab quickly, not for any real use.

## Licence

The weights and the tokenizer were produced by LoRA Lab's script and are released under the
project's MIT licence. The training text, the King James Version of 1611, is in the public domain
(Debian's package states its copyright has expired; in the United Kingdom the Crown's letters
patent still govern printing of the KJV, which this text-only use does not involve).
"""
    (out / "README.md").write_text(card)


# ======================================================================= main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--benchmark", type=int, default=0, help="time this many training steps (tokens/s) and exit")
    ap.add_argument("--golden-only", action="store_true", help="only rewrite the golden file from the saved model")
    ap.add_argument("--print-sha", action="store_true", help="print the SHA-256 of the source text and exit")
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    raw, chapters = read_kjv()
    sha = hashlib.sha256(raw.encode()).hexdigest()
    if args.print_sha:
        print(sha)
        return
    if sha != KJV_SHA256:
        sys.exit(f"the bible text differs from the one this recipe was made with (SHA-256 {sha}, expected {KJV_SHA256})")
    train_docs, valid_docs = split_chapters(chapters)

    if args.golden_only:
        golden = make_golden(args.out, valid_docs)
        args.golden.write_text(json.dumps(golden) + "\n")
        log(f"wrote {args.golden}")
        return

    t = time.time()
    tok = train_tokenizer(train_docs)
    log(f"tokenizer: {tok.get_vocab_size()} ids in {time.time() - t:.1f}s")
    train_stream = encode_docs(tok, train_docs, 0)
    valid_stream = encode_docs(tok, valid_docs, 0)
    valid_blocks = windows(valid_stream, BLOCK, 0)
    log(f"train {train_stream.numel():,} tokens ({len(train_docs)} chapters), valid {valid_stream.numel():,} tokens ({len(valid_docs)} chapters, {valid_blocks.shape[0]} windows)")

    torch.manual_seed(SEED)
    model = make_model()
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params:,} parameters")

    if args.benchmark:
        r = pretrain(model, train_stream, valid_blocks, args.steps, benchmark=args.benchmark)
        log(f"benchmark: {r['tokens_per_s']:.0f} tokens/s, {r['s_per_step']:.2f} s/step; {args.steps} steps would take ~{args.steps * r['s_per_step'] / 60:.1f} min")
        return

    result = pretrain(model, train_stream, valid_blocks, args.steps)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    model.save_pretrained(str(out), safe_serialization=True)
    os.chmod(out / "model.safetensors", 0o644)  # safetensors writes it owner-only
    save_tokenizer(wrap_tokenizer(tok), out)
    gen = out / "generation_config.json"
    if gen.exists():
        gen.unlink()  # defaults only; the model card documents generation

    model.eval()
    prompt = tok.encode("And the LORD said unto Moses,").ids
    with torch.no_grad():
        sample_ids = model.generate(torch.tensor([prompt]), max_new_tokens=40, do_sample=False, pad_token_id=0)[0].tolist()
    sample = tok.decode(sample_ids).replace("\n", " / ")

    curve = result["curve"]
    info = {
        "params": params,
        "file_mb": (out / "model.safetensors").stat().st_size / 1e6,
        "sha256": sha,
        "train_chapters": len(train_docs),
        "valid_chapters": len(valid_docs),
        "train_tokens": train_stream.numel(),
        "valid_tokens": valid_stream.numel(),
        "steps": args.steps,
        "epochs": args.steps * BATCH * BLOCK / train_stream.numel(),
        "curve": curve,
        "final_train": curve[-1]["train_loss"],
        "tokens_per_s": result["tokens_per_s"],
        "wall_s": result["wall_s"],
        "sample": sample,
    }
    write_card(out, info)
    golden = make_golden(out, valid_docs)
    args.golden.parent.mkdir(parents=True, exist_ok=True)
    args.golden.write_text(json.dumps(golden) + "\n")
    log(f"sample: {sample}")
    log(f"wrote {out} and {args.golden}; {result['wall_s'] / 60:.1f} min, {result['tokens_per_s']:.0f} tokens/s")


if __name__ == "__main__":
    main()
