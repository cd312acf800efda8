// Ctrl-C in `lora-lab train`, in a child process, at each stage of a session: while the dataset
// is checked and tokenized (a generated 200,000-row file, where a cancel used to wait 188 s for
// training to start), at pre-flight, and in training before and after the first checkpoint. Each
// exits 130 within seconds, saying what it left; a run folder made before the cancel is left
// `cancelled` with its metrics and last checkpoint, and none exists when the cancel came first.
// Two Ctrl-Cs 50 ms apart quit at once with a short line, never the native-abort text.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { readCheckpoint } from '../../src/core/train/checkpoint';
import { buildWorker } from '../unit/helpers/buildWorker';
import { ROOT, runCliChild, type ChildResult } from './helpers/childCli';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');
const NATIVE_ABORT = /native abort|out of wasm memory/;

function ids(n: number, len: number, seed: number): string[] {
  let s = seed;
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let j = 0; j < len; j++) row.push(3 + ((s = (s * 1103515245 + 12345) % 2147483648) % 90));
    rows.push(`{"input_ids":[${row.join(',')}]}`);
  }
  return rows;
}

let dir: string;
let big: string; // 200,000 short rows: seconds to check and tokenize
let small: string; // 64 rows: training starts at once

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-interrupt-'));
  big = path.join(dir, 'big.jsonl');
  small = path.join(dir, 'small.jsonl');
  fs.writeFileSync(big, ids(200_000, 12, 7).join('\n') + '\n');
  fs.writeFileSync(small, ids(64, 24, 11).join('\n') + '\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Interrupted extends ChildResult {
  /** Seconds from the (first) SIGINT to the child's exit. */
  afterSigint: number;
  ws: string;
}

/**
 * `lora-lab train --json` on `data` in a fresh workspace; when a stdout line matches `when`, the
 * child gets SIGINT (and a second one 50 ms later with `twice`).
 */
async function interrupt(data: string, when: RegExp, extra: string[] = [], twice = false): Promise<Interrupted> {
  const ws = fs.mkdtempSync(path.join(dir, 'ws-'));
  let sentAt = 0;
  const args = ['train', '--model', MODEL, '--data', data, '--workspace', ws, '--backend', 'wasm', '--json', ...extra];
  let exitCode: number | null = null;
  let out = '';
  let err = '';
  const started = runCliChild(args, ws, 60_000, (child: ChildProcess) => {
    child.on('exit', (code) => (exitCode = code));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (sentAt || !when.test(out)) return;
      sentAt = Date.now();
      child.kill('SIGINT');
      if (twice) setTimeout(() => child.kill('SIGINT'), 50);
    });
  });
  // A second Ctrl-C ends the process at once (process.exit): without the helper's exit report.
  const r = await started.catch((e: Error) => {
    if (!twice || exitCode === null) throw e;
    return { code: exitCode, out, err, peakMiB: 0, seconds: 0 };
  });
  if (!sentAt) throw new Error(`no line matched ${when}; exit ${r.code}\n${r.out.slice(-1500)}\n${r.err.slice(-1500)}`);
  return { ...r, afterSigint: (Date.now() - sentAt) / 1000, ws };
}

const finished = (r: ChildResult) => JSON.parse(r.out.trim().split('\n').at(-1)!) as { type: string; status: string; message: string; runDir?: string };
const runsOf = (ws: string) => path.join(ws, '.lora-lab');

describe('Ctrl-C in lora-lab train, stage by stage', () => {
  it('while checking the 200,000-row file: exit 130 at once, the row named, nothing written', async () => {
    const r = await interrupt(big, /"detail":"checking /);
    expect(r.code).toBe(130);
    expect(r.afterSigint).toBeLessThan(3);
    expect(finished(r)).toMatchObject({ type: 'finished', status: 'cancelled' });
    expect(finished(r).message).toMatch(new RegExp(`^cancelled while checking ${big} \\(row [\\d,]+\\); nothing was written$`));
    expect(r.err).toContain('Cancelling; press Ctrl-C again to quit now.');
    expect(r.err).not.toMatch(NATIVE_ABORT);
    expect(fs.existsSync(runsOf(r.ws))).toBe(false);
  });

  it('while tokenizing it: exit 130 at once, "row N of 200,000", nothing written', async () => {
    const r = await interrupt(big, /"detail":"tokenizing /);
    expect(r.code).toBe(130);
    expect(r.afterSigint).toBeLessThan(3);
    expect(finished(r).message).toMatch(new RegExp(`^cancelled while tokenizing ${big} \\(row [\\d,]+ of 200,000\\); nothing was written$`));
    expect(r.err).not.toMatch(NATIVE_ABORT);
    expect(fs.existsSync(runsOf(r.ws))).toBe(false);
  });

  it('at pre-flight: exit 130, the run folder kept as cancelled, no checkpoint claimed or written', async () => {
    const r = await interrupt(small, /"phase":"preflight"/, ['--max-steps', '50']);
    expect(r.code).toBe(130);
    expect(r.afterSigint).toBeLessThan(3);
    const fin = finished(r);
    expect(fin.message).toBe('cancelled while running the pre-flight; the run folder is kept as cancelled (no checkpoint yet)');
    const run = RunDir.open(fin.runDir!);
    expect(run.record().status).toBe('cancelled');
    expect(run.checkpointDir('last')).toBeUndefined();
    expect(r.err).not.toMatch(NATIVE_ABORT);
  });

  for (const [stage, when, saveEvery] of [
    ['in training before the first checkpoint', /"type":"step"/, '1000'],
    ['in training after the first checkpoint', /"type":"checkpoint"/, '2'],
  ] as const) {
    it(`${stage}: exit 130 after the current step, cancelled with its metrics and the checkpoint the message names`, async () => {
      const r = await interrupt(small, when, ['--max-steps', '500', '--save-every', saveEvery, '--eval-every', '1000']);
      expect(r.code).toBe(130);
      expect(r.afterSigint).toBeLessThan(3);
      const fin = finished(r);
      const m = /^cancelled at step (\d+); the last checkpoint \(step (\d+)\) is kept: resume with lora-lab train --resume (.+)$/.exec(fin.message);
      expect(m, fin.message).not.toBeNull();
      expect(m![3]).toBe(fin.runDir);
      const run = RunDir.open(fin.runDir!);
      expect(run.record().status).toBe('cancelled');
      expect(readCheckpoint(run.checkpointDir('last')!).progress.step).toBe(Number(m![2]));
      expect(run.metrics().filter((x) => x.type === 'step').length).toBeGreaterThanOrEqual(Number(m![1]));
      expect(r.err).toContain('Cancelling after the current step');
      expect(r.err).not.toMatch(NATIVE_ABORT);
    });
  }

  it('two Ctrl-Cs 50 ms apart in training: exit 130 at once with the short line, the run cancelled with the checkpoint it names', async () => {
    // Long steps (batch 32 of 24 tokens), so that both signals arrive while one runs.
    const r = await interrupt(small, /"type":"checkpoint"/, ['--max-steps', '500', '--save-every', '1', '--eval-every', '1000', '--batch', '32'], true);
    expect(r.code).toBe(130);
    expect(r.afterSigint).toBeLessThan(3);
    const m = /lora-lab train: quit at once; (.+) keeps its last checkpoint \(step (\d+)\): resume with lora-lab train --resume (.+)\n/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    const run = RunDir.open(m![1]);
    expect(run.record().status).toBe('cancelled');
    expect(readCheckpoint(run.checkpointDir('last')!).progress.step).toBe(Number(m![2]));
    expect(r.err).not.toMatch(NATIVE_ABORT);
  });
});

describe('cancel in the worker (the VS Code path): the same signal', () => {
  for (const [stage, data, at] of [
    ['while tokenizing', () => big, (m: { type: string; phase?: string; detail?: string }) => m.type === 'phase' && !!m.detail?.startsWith('tokenizing')],
    ['at pre-flight', () => small, (m: { type: string; phase?: string }) => m.type === 'phase' && m.phase === 'preflight'],
  ] as const) {
    it(`${stage}: the job finishes cancelled and the worker exits within seconds`, async () => {
      const worker = await buildWorker();
      const ws = fs.mkdtempSync(path.join(dir, 'worker-'));
      const child = fork(worker, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      const seen: Array<{ type: string; status?: string; message?: string; runDir?: string; code?: number }> = [];
      let cancelledAt = 0;
      const exited = new Promise<number>((resolve) => {
        child.on('message', (m: { type: string; phase?: string; detail?: string }) => {
          seen.push(m);
          if (m.type === 'ready') child.send({ type: 'train', config: { model: MODEL, data: data(), workspace: ws, backend: 'wasm', training: { maxSteps: 50 } } });
          if (!cancelledAt && at(m)) {
            cancelledAt = Date.now();
            child.send({ type: 'cancel' });
          }
        });
        child.on('exit', (code) => resolve(code ?? -1));
      });
      const code = await exited;
      expect(cancelledAt, JSON.stringify(seen.slice(-3))).toBeGreaterThan(0);
      expect((Date.now() - cancelledAt) / 1000).toBeLessThan(3);
      expect(code).toBe(0);
      const fin = seen.find((m) => m.type === 'finished')!;
      expect(fin.status).toBe('cancelled');
      if (stage === 'while tokenizing') {
        expect(fin.message).toMatch(/^cancelled while tokenizing .* \(row [\d,]+ of 200,000\); nothing was written$/);
        expect(fs.existsSync(runsOf(ws))).toBe(false);
      } else {
        expect(RunDir.open(fin.runDir!).record().status).toBe('cancelled');
      }
    });
  }
});
