// Example.line, which step rows report as provenance, for each dataset format: the 1-based line
// where the row starts in its file (a CSV/TSV record's first line, even when a quoted field holds
// line breaks; a .json array element's first line; a JSON Lines line, blank lines counted), and
// for a held-out split the training file's lines of the examples kept. Reference: the file's own
// text at that line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { prepareData } from '../../src/core/data';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const tok = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig());

function write(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lines-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** The marker ("row N") each example's row holds, found in the file's text from the example's line on. */
function markerAt(file: string, line: number): string | undefined {
  return /row \d+/.exec(fs.readFileSync(file, 'utf8').split('\n').slice(line - 1).join('\n'))?.[0];
}

describe('Example.line per format (the line step rows name)', () => {
  const cases: [string, string][] = [
    ['a.jsonl', ['{"prompt":"row 1 q","completion":" a"}', '', '{"prompt":"row 2 q","completion":" b"}', '', '', '{"prompt":"row 3 q","completion":" c"}'].join('\n') + '\n'],
    ['a.json', '[\n  {"prompt": "row 1 q",\n   "completion": " a"},\n\n  {"prompt": "row 2 q", "completion": " b"},\n  {\n    "prompt": "row 3 q",\n    "completion": " c"\n  }\n]\n'],
    ['a.csv', 'prompt,completion\n"row 1 q\nspanning\nlines"," a"\n\n"row 2 q"," b"\n"row 3 q","two\nlines"\n'],
    ['crlf.csv', 'prompt,completion\r\n"row 1 q\r\nspanning"," a"\r\n\r\n"row 2 q"," b"\r\n"row 3 q"," c"\r\n'],
    ['a.tsv', 'prompt\tcompletion\n\nrow 1 q\t a\nrow 2 q\t b\n\n\nrow 3 q\t c\n'],
  ];
  for (const [name, text] of cases) {
    it(`${name}: each example's line is where its row starts`, async () => {
      const file = write(name, text);
      const d = await prepareData(file, tok, { maxSeqLen: 64, validFraction: 0 });
      expect(d.train).toHaveLength(3);
      d.train.forEach((e, i) => expect(markerAt(file, e.line)).toBe(`row ${i + 1}`));
      // The line itself starts the row: the line before holds no part of it.
      for (const e of d.train) expect(fs.readFileSync(file, 'utf8').split('\n')[e.line - 1]).toMatch(/row \d+|\{/);
    });
  }

  it('held-out split: training and validation examples keep their lines in the training file, disjoint and together every row', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ prompt: `row ${i + 1} q`, completion: ' a' }));
    const file = write('s.jsonl', rows.join('\n\n') + '\n'); // row i on line 2i − 1
    const d = await prepareData(file, tok, { maxSeqLen: 64, validFraction: 0.2, seed: 4 });
    const lines = [...d.train, ...d.valid].map((e) => e.line).sort((a, b) => a - b);
    expect(lines).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
    for (const e of [...d.train, ...d.valid]) expect(markerAt(file, e.line)).toBe(`row ${(e.line + 1) / 2}`);
  });

  // plainText.ts counts the line breaks of each window's text and carries the count to the next
  // window (it used to give every window the first line of the 64 KiB chunk it started in).
  it('.txt: each window\'s line is the line its first token is on', async () => {
    const file = write('p.txt', Array.from({ length: 60 }, (_, i) => `row ${i + 1} says hello`).join('\n') + '\n');
    const d = await prepareData(file, tok, { maxSeqLen: 16, validFraction: 0 });
    for (const e of d.train.slice(1)) {
      const first = tok.decode(e.ids.slice(0, 3));
      expect(fs.readFileSync(file, 'utf8').split('\n')[e.line - 1]).toContain(first.split('\n')[0].trim());
      expect(e.line).toBeGreaterThan(1);
    }
  });
});
