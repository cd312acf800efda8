// The end-to-end test's workspace: the dataset and model it trains on (the bundled sample, or a
// tiny fixture in a checkout without it) and the run folders the extension writes, read from disk.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { progress, ROOT, waitFor, type CodeServer } from './harness';

/** Seconds one training run may take before the test gives up (it takes well under a minute). */
const RUN_TIMEOUT_MS = Number(process.env.LORA_LAB_E2E_RUN_TIMEOUT_S ?? 300) * 1000;

// --- Fixture: the dataset and the model ------------------------------------------------------------
// With the bundled sample model (samples/model, packaged in the .vsix), the run uses
// samples/datasets/devil/train.jsonl, copied as devil.jsonl (or a small text dataset made here when that is absent). Without it
// (a checkout that predates the sample), the run uses a copy of test/fixtures/gpt2-tiny, chosen
// through loraLab.modelPath, on pre-tokenized input_ids (the fixture has no tokenizer).
const SAMPLE_MODEL = path.join(ROOT, 'samples', 'model');
const SAMPLE_DATASET = path.join(ROOT, 'samples', 'datasets', 'devil', 'train.jsonl');
export const FIXTURE_MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');
export const useSample = fs.existsSync(path.join(SAMPLE_MODEL, 'config.json'));

function textDataset(): string {
  const words = 'the of a to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const n = 8 + (i % 9);
    lines.push(JSON.stringify({ text: Array.from({ length: n }, (_, j) => words[(i * 7 + j * 13) % words.length]).join(' ') + '.' }));
  }
  return `${lines.join('\n')}\n`;
}

function inputIdsDataset(vocabSize: number): string {
  const lines: string[] = [];
  let s = 12345;
  for (let i = 0; i < 48; i++) {
    const n = 12 + (i % 20);
    const ids = Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 8) % vocabSize;
    });
    lines.push(JSON.stringify({ input_ids: ids }));
  }
  return `${lines.join('\n')}\n`;
}

export const DATASET = useSample && fs.existsSync(SAMPLE_DATASET) ? 'devil.jsonl' : useSample ? 'tiny-text.jsonl' : 'tiny-ids.jsonl';

/**
 * A dataset with planted problems for the lint (test (e)): line 2 is bad JSON (an error), line 3 an
 * exact duplicate of line 1, line 4 a completion far over max_seq_len = 64 tokens (warnings).
 */
export const PLANTED = 'planted.jsonl';
export function plantedDataset(): string {
  const row = (prompt: string, completion: string) => JSON.stringify({ prompt, completion });
  const long = Array.from({ length: 90 }, (_, i) => ['wind', 'over', 'the', 'water', 'and', 'stone'][i % 6]).join(' ');
  return [row('Define: Cat', ' A small animal that purrs.'), '{"prompt": "Define: Dog", "completion": ', row('Define: Cat', ' A small animal that purrs.'), row('Define: Owl', ` ${long}.`), row('Define: Elk', ' A deer.')].join('\n') + '\n';
}

/** The sample's evaluation cases (test (h)), copied into the workspace root as devil.evals.jsonl. */
const SAMPLE_CASES = path.join(ROOT, 'samples', 'datasets', 'devil', 'devil.evals.jsonl');
export const CASES = 'devil.evals.jsonl';
export const hasSampleCases = useSample && fs.existsSync(SAMPLE_CASES);

export function workspaceFiles(): ConstructorParameters<typeof CodeServer>[1]['workspaceFiles'] {
  if (useSample) {
    return {
      [DATASET]: fs.existsSync(SAMPLE_DATASET) ? { from: SAMPLE_DATASET } : { text: textDataset() },
      [PLANTED]: { text: plantedDataset() },
      ...(hasSampleCases ? { [CASES]: { from: SAMPLE_CASES } } : {}),
    };
  }
  const vocab = (JSON.parse(fs.readFileSync(path.join(FIXTURE_MODEL, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  return { [DATASET]: { text: inputIdsDataset(vocab) }, 'models/gpt2-tiny': { dir: FIXTURE_MODEL } };
}

// --- Run folders -----------------------------------------------------------------------------------
export interface RunInfo {
  id: string;
  dir: string;
  status: string;
  name?: string;
  error?: { message: string };
}

export function runs(workspace: string): RunInfo[] {
  const root = path.join(workspace, '.lora-lab', 'runs');
  if (!fs.existsSync(root)) return [];
  const out: RunInfo[] = [];
  for (const id of fs.readdirSync(root).sort()) {
    const file = path.join(root, id, 'run.json');
    try {
      const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<RunInfo, 'id' | 'dir'>;
      out.push({ ...rec, id, dir: path.join(root, id) });
    } catch {
      // Not written yet (or mid-rename): seen on the next poll.
    }
  }
  return out;
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

/** Waits until the run `id` has ended; fails with its error and log when it did not complete. */
export async function waitForCompletion(workspace: string, id: string): Promise<RunInfo> {
  let lastStatus = '';
  const run = await waitFor(`run ${id} to end`, () => {
    const r = runs(workspace).find((x) => x.id === id);
    if (r && r.status !== lastStatus) {
      lastStatus = r.status;
      progress(`run ${id}: ${r.status}`);
    }
    return r && r.status !== 'running' ? r : undefined;
  }, RUN_TIMEOUT_MS, 1_000);
  assert.equal(run.status, 'completed', `run ${id} ended ${run.status}: ${run.error?.message ?? ''}\ntrain.log:\n${tail(path.join(run.dir, 'train.log'))}`);
  return run;
}

export function metricsCount(run: RunInfo): { steps: number; evals: number } {
  const rows = fs.readFileSync(path.join(run.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  return { steps: rows.filter((r) => r.type === 'step').length, evals: rows.filter((r) => r.type === 'eval').length };
}

