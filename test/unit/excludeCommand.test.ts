// *Exclude Rows from Training* (src/commands/exclude.ts): the editor's selections → 1-based lines
// (a selection ending at column 0 of a line does not take that line), and the command's effect on
// the dataset's exclusion list (with Undo).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => ({ answer: undefined as string | undefined, messages: [] as string[] }));
vi.mock('vscode', () => ({
  window: {
    activeTextEditor: undefined,
    showInformationMessage: async (m: string) => (h.messages.push(m), h.answer),
    showWarningMessage: async (m: string) => (h.messages.push(m), undefined),
    showErrorMessage: async (m: string) => (h.messages.push(m), undefined),
    showTextDocument: async () => undefined,
  },
  Uri: { file: (p: string) => ({ fsPath: p }) },
}));
const { excludeRows, selectedLines } = await import('../../src/commands/exclude');
const { readExclusions } = await import('../../src/core/data/exclusions');

const sel = (a: number, b: number, endChar = 3) => ({ start: { line: a }, end: { line: b, character: endChar } });

describe('Exclude Rows from Training', () => {
  it('selected lines: 0-based editor lines → 1-based rows, merged and sorted; an end at column 0 stops before that line', () => {
    expect(selectedLines([sel(4, 4), sel(0, 1)])).toEqual([1, 2, 5]);
    expect(selectedLines([sel(2, 5, 0)])).toEqual([3, 4, 5]);
  });

  it('adds the lines with a note, re-lints, and Undo takes them out again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-exclude-cmd-'));
    const file = path.join(dir, 'train.jsonl');
    fs.writeFileSync(file, '{"text": "a"}\n{"text": "b"}\n{"text": "c"}\n');
    const relinted: string[] = [];
    h.answer = undefined;
    await excludeRows({ file, lines: [3, 1], note: 'step 4', afterChange: (f) => relinted.push(f) });
    expect(readExclusions(file)!.list.lines).toEqual([1, 3]);
    expect(h.messages.at(-1)).toMatch(/excluded from training: 2 rows \(lines 3, 1\) of train\.jsonl; 2 excluded in all/);
    h.answer = 'Undo';
    await excludeRows({ file, lines: [2], afterChange: (f) => relinted.push(f) });
    expect(readExclusions(file)!.list.lines).toEqual([1, 3]);
    expect(relinted).toEqual([file, file, file]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
