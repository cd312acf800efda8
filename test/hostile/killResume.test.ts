// kill -9 in the middle of training, then `lora-lab train --resume`: the run completes in the same
// folder; the steps the killed process logged after its last checkpoint are not logged twice (they
// are moved to metrics.superseded.jsonl, core/runs/rewind.ts), and the adapter is byte-identical
// to the adapter of the same run never interrupted (same seed, same data: the reference).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { SUPERSEDED_METRICS_FILE } from '../../src/core/runs/rewind';
import { ROOT, runCliChild } from './helpers/childCli';
import { writeIdsDataset } from './helpers/idsDataset';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');

let dir: string;
let data: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-kill-'));
  data = path.join(dir, 'train.jsonl');
  writeIdsDataset(data, 5, 48);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const args = (ws: string) => ['train', '--model', MODEL, '--data', data, '--workspace', ws, '--backend', 'wasm', '--max-steps', '8', '--batch', '2', '--save-every', '4', '--eval-every', '4', '--seed', '3', '--json'];
const runDirOf = (out: string) => (out.split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { type: string; dir?: string }) : undefined)).find((e) => e?.type === 'run')?.dir);
const stepsOf = (run: RunDir) => run.metrics().flatMap((r) => (r.type === 'step' ? [r.step as number] : []));

describe('kill -9 mid-training, then --resume', () => {
  it('completes in the same folder, each step logged once, the adapter byte-identical to an uninterrupted run', async () => {
    const refWs = fs.mkdtempSync(path.join(dir, 'ref-'));
    const ref = await runCliChild(args(refWs), refWs, 120_000);
    expect(ref.code, ref.err).toBe(0);
    const refRun = RunDir.open(runDirOf(ref.out)!);

    const ws = fs.mkdtempSync(path.join(dir, 'ws-'));
    let out = '';
    let killed = false;
    // Step 6 comes after the checkpoint at step 4: the killed process has logged steps it never saved.
    await runCliChild(args(ws), ws, 120_000, (child) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (!killed && /"type":"step","step":6\b/.test(out)) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
    }).catch(() => undefined); // killed: no exit report
    expect(killed).toBe(true);
    const runDir = runDirOf(out)!;
    const run = RunDir.open(runDir);
    expect(stepsOf(run)).toContain(6);
    expect(run.record().status).toBe('running'); // as the kill left it: read as interrupted (its pid is gone)

    const resumed = await runCliChild(['train', '--resume', runDir, '--json'], ws, 120_000);
    expect(resumed.code, resumed.err).toBe(0);
    expect(runDirOf(resumed.out)).toBe(runDir);
    expect(run.record().status).toBe('completed');
    expect(stepsOf(run)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const superseded = fs.readFileSync(path.join(runDir, SUPERSEDED_METRICS_FILE), 'utf8');
    expect(superseded).toMatch(/"step":6\b/);
    expect(fs.readFileSync(run.logPath, 'utf8')).toMatch(/resuming from step 4: \d+ metrics row\(s\) logged after it moved to metrics\.superseded\.jsonl/);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json']) {
      expect(fs.readFileSync(path.join(run.adapterDir, f)).equals(fs.readFileSync(path.join(refRun.adapterDir, f))), f).toBe(true);
    }
  });
});
