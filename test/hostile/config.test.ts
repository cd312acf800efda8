// Hostile configs through the real `lora-lab train` in a child process: each refused one exits
// with its code and message, in well under the time and memory an allocation would take, and
// leaves no run folder; settings that cannot be meant train, with a warning on the terminal, in
// the --json events and in train.log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCliChild, type ChildResult } from './helpers/childCli';
import { writeIdsDataset } from './helpers/idsDataset';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');

/** `lora-lab <args>` in a child process: exit code, output, peak RSS, wall time. */
const lora = (args: string[]): Promise<ChildResult> => runCliChild(args, os.tmpdir());

function workspace(): { dir: string; data: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-config-'));
  const data = path.join(dir, 'train.jsonl');
  writeIdsDataset(data, 7);
  return { dir, data };
}

const train = (ws: { dir: string; data: string }, ...extra: string[]) => ['train', '--model', MODEL, '--data', ws.data, '--workspace', ws.dir, '--backend', 'wasm', ...extra];
const runsOf = (ws: { dir: string }) => path.join(ws.dir, '.lora-lab');

describe('configs refused before any tensor or run folder', () => {
  it('--rank 100000000 on a 32-wide model: refused naming the module and its bound, in seconds and little memory (it used to allocate past 4 GB)', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--rank', '100000000'));
    expect(r.code).toBe(2);
    expect(r.out).toContain('r=100000000 exceeds min(in, out)=32 of transformer.h.0.attn.c_attn');
    expect(r.peakMiB).toBeLessThan(400); // ~80 MB measured: node + TensorFlow.js loaded, no tensor
    expect(r.seconds).toBeLessThan(15); // ~0.4 s alone; the bound is for a loaded 2-core host
    expect(fs.existsSync(runsOf(ws))).toBe(false);
  });

  it('r one past min(in, out) is refused; the bound itself would train', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--rank', '33', '--targets', 'c_attn,c_fc'));
    expect(r.code).toBe(2);
    expect(r.out).toContain('r=33 exceeds min(in, out)=32 of transformer.h.0.attn.c_attn');
    expect(fs.existsSync(runsOf(ws))).toBe(false);
  });

  it('--rank -1 gets the range message, not the argument parser\'s "ambiguous"', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--rank', '-1'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('lora-lab train: --rank must be a whole number ≥ 1, got "-1"');
    expect(r.err).not.toMatch(/ambiguous/);
    expect(fs.existsSync(runsOf(ws))).toBe(false);
  });

  it('a target that matches no module: refused with the choices, no (empty, failed) run folder', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--targets', 'q_proj'));
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/target module\(s\) q_proj do not exist in GPT2LMHeadModel\. Choose from: c_attn, c_proj, c_fc/);
    expect(fs.existsSync(runsOf(ws))).toBe(false);
  });
});

describe('settings that cannot be meant: trained, with a warning', () => {
  /** The warn-level log events of a --json run, and its train.log. */
  function warnings(r: ChildResult): { events: string[]; log: string } {
    const events = r.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; level?: string; message?: string; runDir?: string });
    const fin = events.find((e) => e.type === 'finished')!;
    return {
      events: events.filter((e) => e.type === 'log' && e.level === 'warn').map((e) => e.message!),
      log: fs.readFileSync(path.join(fin.runDir!, 'train.log'), 'utf8'),
    };
  }

  it('--warmup-steps 1000000 on a 2-step run', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--warmup-steps', '1000000', '--max-steps', '2', '--json'));
    expect(r.code).toBe(0);
    const w = warnings(r);
    const text = 'the warm-up (1000000 steps) is longer than the run (2 steps)';
    expect(w.events.some((m) => m.includes(text))).toBe(true);
    expect(w.log).toContain(`warning: ${text}`);
  });

  it('--grad-accum 100000 with 6 batches per epoch', async () => {
    const ws = workspace();
    const r = await lora(train(ws, '--grad-accum', '100000', '--epochs', '1', '--batch', '4', '--json'));
    expect(r.code).toBe(0);
    const w = warnings(r);
    const text = 'gradient accumulation of 100000 micro-batches is larger than the 6 batches of one epoch (22 examples, batch 4)';
    expect(w.events.some((m) => m.includes(text))).toBe(true);
    expect(w.log).toContain(`warning: ${text}`);
  });
});
