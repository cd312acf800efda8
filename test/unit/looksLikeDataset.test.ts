// Which files the dataset lint (src/host/datasetLint.ts) treats as datasets: a prompt/completion
// .jsonl is one; an evaluation case file (*.evals.jsonl, *.evals.json), whose lines also hold a
// "prompt", is not — it has its own Problems (src/host/caseDiagnostics.ts), and linting it as a
// dataset reported 'missing field "completion"' on every case (seen in the e2e run).
import { describe, expect, it, vi } from 'vitest';

vi.mock('vscode', () => ({ DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 } }));
const { looksLikeDataset } = await import('../../src/host/datasetLint');

const row = '{"prompt": "Define: Cat\\n", "completion": "A small animal."}\n';
const caseLine = '{"name": "cat", "prompt": "Define: Cat\\n", "expect": {"contains": "animal"}}\n';

describe('looksLikeDataset', () => {
  it('takes a prompt/completion .jsonl for a dataset', () => {
    expect(looksLikeDataset('/ws/train.jsonl', row)).toBe(true);
    expect(looksLikeDataset('/ws/my.evals.data.jsonl', row)).toBe(true);
  });
  it('leaves evaluation case files to their own diagnostics', () => {
    expect(looksLikeDataset('/ws/devil.evals.jsonl', caseLine)).toBe(false);
    expect(looksLikeDataset('/ws/Devil.EVALS.JSONL', caseLine)).toBe(false);
    expect(looksLikeDataset('/ws/one.evals.json', caseLine)).toBe(false);
  });
});
