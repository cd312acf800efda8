#!/usr/bin/env python3
"""Write LoRA Lab's sample datasets (samples/datasets/) from public-domain text in Debian packages.

Sources
-------
* Ambrose Bierce, *The Devil's Dictionary* (1911 edition, public domain): Debian's `dict-devil`
  package, a dictd database (/usr/share/dictd/devil.index + devil.dict.dz). Every distinct entry
  is parsed into headword, part of speech and definition (the first paragraph: the prose
  definition without the verse and anecdotes that follow it).
* The King James Bible: Debian's `bible-kjv` + `bible-kjv-text` (`bible -f <range>`).

Outputs
-------
samples/datasets/devil/train.jsonl, valid.jsonl
    The main LoRA task: {"prompt": "Define: Cynic\\n", "completion": "A blackguard whose ..."},
    every usable entry, 10% held out (seeded) in valid.jsonl, the name LoRA Lab's pipeline finds
    next to the training file. A definition is cut at a sentence end so that prompt + completion +
    <|endoftext|> is at most MAX_TOKENS tokens of the sample model's tokenizer.
samples/datasets/*
    One small file per format and file kind, for trying every path of the pipeline: text.jsonl,
    prompt_completion.jsonl, chat.jsonl, input_ids.jsonl, devil.csv, verses.tsv,
    definitions.json (a JSON array) and bible.txt. They live apart from devil/ so that
    devil/valid.jsonl is never picked up as their validation file.

How to run (after scripts/pretrain_sample.py, whose tokenizer sets the truncation)
----------
    apt-get install -y dict-devil bible-kjv bible-kjv-text
    /work/pyref/bin/python scripts/make_sample_datasets.py
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEVIL_INDEX = Path("/usr/share/dictd/devil.index")
DEVIL_DICT = Path("/usr/share/dictd/devil.dict.dz")
SEED = 1911
MAX_TOKENS = 128  # prompt + completion + EOS, with samples/model's tokenizer
VALID_FRACTION = 0.1
SMALL_ROWS = 120  # rows of each per-format sample file
SHORT_TOKENS = 80  # the per-format files use entries of at most this many tokens (prompt + completion + EOS)
PROMPT = "Define: {word}\n"

# dictd's base-64 digits (offsets and lengths in the .index file).
DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def dictd_number(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + DICTD_DIGITS.index(ch)
    return n


def read_dictd(index: Path, data: Path) -> list[str]:
    """Distinct entry texts of a dictd database, in index order (aliases point at the same text)."""
    raw = gzip.decompress(data.read_bytes())
    seen: set[int] = set()
    out = []
    for line in index.read_text(encoding="utf-8").splitlines():
        word, off, length = line.split("\t")
        if word.startswith("00database"):
            continue
        start = dictd_number(off)
        if start in seen:
            continue
        seen.add(start)
        out.append(raw[start : start + dictd_number(length)].decode("utf-8"))
    return out


# The headword line: "ABASEMENT, n.  A decent ...", "BABE or BABY, n.  ...", "IMPOSTOR n.  ...",
# "INFERIAE,n.  [Latin]  ...", "KEEP, v.t.", "BRAIN, n. An apparatus ..." (one space).
HEAD_RE = re.compile(
    r"^(?P<head>[A-Z][A-Z0-9'\-. ]*?(?: \((?:or|OR) [A-Z]+\)[A-Z ]*)?(?:,? (?:or|OR) [A-Z][A-Z0-9'\- ]*?|, [A-Z][A-Z0-9'\-]*)?)"
    r"(?:,\s*|\s+)(?P<pos>(?:[a-z]{1,5}\.)+(?:\s*(?:and|&)\s*(?:[a-z]{1,5}\.)+)?)(?:\s+(?P<rest>\S.*))?$"
)


def title_word(w: str) -> str:
    """'CYNIC' -> 'Cynic', "ADAM'S" -> "Adam's"; abbreviations with dots ('R.I.P.', 'LL.D.') stay as they are."""
    if "." in w.rstrip(".?") or not w[:1].isalpha():
        return w
    return w[:1] + w[1:].lower()


def parse_entry(text: str) -> dict | None:
    """Headword, part of speech and the prose definition (first paragraph) of one entry, or None."""
    para = text.strip("\n").split("\n\n")[0]
    lines = para.split("\n")
    m = HEAD_RE.match(lines[0])
    if m:
        head, pos, rest = m.group("head"), m.group("pos"), m.group("rest") or ""
    elif "  " in lines[0]:
        # No part of speech: "CUI BONO?  [Latin]  What good ...", "R.I.P.  A careless ...".
        head, rest = lines[0].split("  ", 1)
        pos = ""
        if "." not in head.rstrip("."):
            head = head.rstrip(".")
    else:
        # Letters of the alphabet ("I is the first letter ...").
        return None
    body = re.sub(r"\s+", " ", " ".join([rest] + [ln.strip() for ln in lines[1:]])).strip()
    if body.startswith("[Latin]"):
        body = body[len("[Latin]") :].strip()
        pos = pos or "Latin"
    body = re.sub(r"^\[from [^\]]*\]\s*", "", body)  # etymology: "[from {ACADEME}]"
    body = body.replace("_", "").replace("{", "").replace("}", "")  # italics and cross-reference markup
    # A definition that ends by introducing a quotation (": " or " --") ends before that sentence.
    if not re.search(r"[.!?][\"')]*$", body):
        ends = sentence_ends(body)
        body = body[: ends[-1]] if ends else ""
    if not re.match(r"^[A-Z\"'(]", body):
        return None  # a definition that is only a poem (or introduces one), or a source typo ("n ancient Rome")
    head = head.strip().rstrip(",")
    word = " ".join(title_word(w) for w in head.split())
    return {"word": word, "pos": pos, "definition": body, "headline": f"{head}, {pos}" if pos and pos != "Latin" else head}


_SENTENCE_GAP = re.compile(r"(?<=[.!?])(?P<close>[\"')]*)\s+(?=[A-Z\"'(])")
# Words whose period does not end a sentence ("Dr. Jamrach Holobom", "St. Paul", initials).
ABBREVIATIONS = {"Dr", "Mr", "Mrs", "Messrs", "St", "Rev", "Prof", "Gen", "Col", "Capt", "Hon", "Co", "Mt", "No", "vs", "i.e", "e.g", "cf"}


def sentence_ends(text: str) -> list[int]:
    """Where each sentence but the last ends (after its closing quotes), skipping abbreviations and initials."""
    ends = []
    for m in _SENTENCE_GAP.finditer(text):
        word = re.split(r"[\s(]", text[: m.start()])[-1].rstrip(".!?")
        if word in ABBREVIATIONS or re.fullmatch(r"[A-Z]", word):
            continue
        ends.append(m.end("close"))
    return ends


def fit_definition(tok: Tokenizer, prompt: str, definition: str, max_tokens: int) -> str | None:
    """The longest run of whole leading sentences whose prompt + completion + EOS fits max_tokens."""
    budget = max_tokens - len(tok.encode(prompt).ids) - 1
    best = None
    for end in sentence_ends(definition) + [len(definition)]:
        if len(tok.encode(definition[:end]).ids) > budget:
            break
        best = definition[:end]
    return best


def kjv(ref: str) -> list[tuple[str, str]]:
    """(reference, verse) pairs of a range, from Debian's `bible`."""
    out = subprocess.run(["bible", "-f", ref], check=True, capture_output=True, text=True).stdout
    pairs = []
    for line in out.splitlines():
        r, text = line.split(" ", 1)
        pairs.append((r, text.strip()))
    return pairs


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


QUESTIONS = [
    "What is meant by \"{w}\"?",
    "Define \"{w}\".",
    "What does the word \"{w}\" mean?",
    "Give me the Devil's Dictionary definition of {w}.",
    "{W}?",
]
SYSTEM = "You are Ambrose Bierce's Devil's Dictionary. Answer with the definition only."


def chatml_tokens(tok: Tokenizer, messages: list[dict]) -> int:
    """Length of a conversation as the sample model's ChatML template renders it."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return len(tok.encode(text).ids)


def chat_row(rng: random.Random, tok: Tokenizer, entries: list[dict], max_tokens: int) -> dict | None:
    """A conversation asking about the entries; without the system message, or None, when it would not fit."""
    system = [{"role": "system", "content": SYSTEM}] if rng.random() < 0.5 else []
    turns = []
    for e in entries:
        q = rng.choice(QUESTIONS).format(w=e["word"].lower(), W=e["word"])
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": e["completion"]}]
    for msgs in (system + turns, turns):
        if chatml_tokens(tok, msgs) <= max_tokens:
            return {"messages": msgs}
    return None


def pc(e: dict) -> dict:
    """The prompt/completion row of an entry."""
    return {"prompt": e["prompt"], "completion": e["completion"]}


# Bierce wrote in 1911: a few entries are racial or religious slurs. They are left out of the
# sample data (by headword, plus a safety net on the slur itself), after the split, so the rest of
# the files are unchanged.
EXCLUDED_WORDS = {"African", "Minstrel", "Negro", "Hebrew"}
SLUR = re.compile(r"nigger", re.IGNORECASE)


def excluded(e: dict) -> bool:
    return e["word"] in EXCLUDED_WORDS or bool(SLUR.search(e["definition"]))


def main() -> None:
    ap = argparse.ArgumentParser(description="Write samples/datasets/ from Debian's dict-devil and bible-kjv.")
    ap.add_argument("--out", type=Path, default=ROOT / "samples" / "datasets")
    ap.add_argument("--tokenizer", type=Path, default=ROOT / "samples" / "model" / "tokenizer.json")
    args = ap.parse_args()
    for p in (DEVIL_INDEX, DEVIL_DICT):
        if not p.exists():
            sys.exit(f"{p} not found: apt-get install -y dict-devil")
    tok = Tokenizer.from_file(str(args.tokenizer))

    texts = read_dictd(DEVIL_INDEX, DEVIL_DICT)
    parsed, seen = [], set()
    for e in (parse_entry(t) for t in texts):
        # PRECEDENT and PRECIPITATE are in the database twice: keep the first entry of a (word, part of speech).
        if e is not None and (e["word"], e["pos"]) not in seen:
            seen.add((e["word"], e["pos"]))
            parsed.append(e)
    # A word with two entries (REASON, n. and REASON, v.i.) is asked for with its part of speech.
    counts: dict[str, int] = {}
    for e in parsed:
        counts[e["word"]] = counts.get(e["word"], 0) + 1
    entries, cut, dropped = [], 0, 0
    for e in parsed:
        word = f"{e['word']} ({e['pos']})" if counts[e["word"]] > 1 and e["pos"] else e["word"]
        prompt = PROMPT.format(word=word)
        completion = fit_definition(tok, prompt, e["definition"], MAX_TOKENS)
        if completion is None:
            dropped += 1
            continue
        cut += completion != e["definition"]
        tokens = len(tok.encode(prompt).ids) + len(tok.encode(completion).ids) + 1
        entries.append({**e, "prompt": prompt, "completion": completion, "tokens": tokens})
    rng = random.Random(SEED)
    order = list(range(len(entries)))
    rng.shuffle(order)
    n_valid = round(len(entries) * VALID_FRACTION)
    valid_idx = [i for i in sorted(order[:n_valid]) if not excluded(entries[i])]
    train_idx = [i for i in sorted(order[n_valid:]) if not excluded(entries[i])]
    out: Path = args.out
    (out / "devil").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "devil" / "train.jsonl", [pc(entries[i]) for i in train_idx])
    write_jsonl(out / "devil" / "valid.jsonl", [pc(entries[i]) for i in valid_idx])

    # Small per-format files, drawn from the training entries only (never from devil/valid.jsonl).
    # Short entries (at most SHORT_TOKENS), so that every format of them fits MAX_TOKENS.
    short = [i for i in train_idx if entries[i]["tokens"] <= SHORT_TOKENS]
    small = sorted(rng.sample(short, SMALL_ROWS))
    small_entries = [entries[i] for i in small]
    write_jsonl(out / "prompt_completion.jsonl", [pc(e) for e in small_entries])
    # Text rows: the entries as Bierce prints them ("CYNIC, n. A blackguard ...").
    write_jsonl(out / "text.jsonl", [{"text": f"{e['headline']} {e['completion']}"} for e in small_entries])
    # Chat: one- and two-question conversations; half are offered a system message, kept where it fits.
    chats, k = [], 0
    while k < len(small_entries):
        take = 2 if rng.random() < 0.25 and k + 1 < len(small_entries) else 1
        row = chat_row(rng, tok, small_entries[k : k + take], MAX_TOKENS)
        if row is None and take == 2:
            take, row = 1, chat_row(rng, tok, small_entries[k : k + 1], MAX_TOKENS)
        if row is not None:
            chats.append(row)
        k += take
    write_jsonl(out / "chat.jsonl", chats)
    # Pre-tokenized with the sample model's tokenizer: the text rows followed by <|endoftext|> (id 0).
    write_jsonl(out / "input_ids.jsonl", [{"input_ids": tok.encode(f"{e['headline']} {e['completion']}").ids + [0]} for e in small_entries[:60]])
    # CSV with a header row; the csv module quotes commas, quotes and line breaks.
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prompt", "completion"])
    for e in small_entries:
        w.writerow([e["prompt"], e["completion"]])
    (out / "devil.csv").write_text(buf.getvalue(), encoding="utf-8")
    # A JSON array (the .json kind), prompt/completion rows.
    (out / "definitions.json").write_text(json.dumps([pc(e) for e in small_entries[:60]], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    # TSV with a text column: Psalms 1-10, one verse per row.
    verses = kjv("ps1:1-ps10:18")
    (out / "verses.tsv").write_text("reference\ttext\n" + "".join(f"{r}\t{t}\n" for r, t in verses), encoding="utf-8")
    # Plain text: the Book of Jonah (4 chapters), one verse per line, a blank line between chapters.
    lines, chapter = [], None
    for r, t in kjv("jonah1:1-jonah4:11"):
        c = r.split(":")[0]
        if chapter is not None and c != chapter:
            lines.append("")
        chapter = c
        lines.append(t)
    (out / "bible.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    lens = sorted(e["tokens"] for e in entries)
    print(f"devil: {len(texts)} distinct entries, {len(parsed)} with a prose definition, {len(entries)} kept "
          f"({cut} cut at a sentence end, {dropped} dropped: first sentence over {MAX_TOKENS} tokens); "
          f"train {len(train_idx)}, valid {len(valid_idx)}; tokens/example median {lens[len(lens) // 2]}, "
          f"mean {sum(lens) / len(lens):.1f}, max {lens[-1]}, total {sum(lens)}")
    for f in sorted(out.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(out)}  {f.stat().st_size:,} bytes  sha256 {hashlib.sha256(f.read_bytes()).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
