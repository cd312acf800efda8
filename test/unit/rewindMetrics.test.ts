// rewindMetrics (src/core/runs/rewind.ts): before a resume from the checkpoint at step N, the rows
// logged after step N leave metrics.jsonl (the resumed training logs those steps again) and are
// kept, byte for byte, in metrics.superseded.jsonl. Invariant: every step appears once after a resume.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rewindMetrics, SUPERSEDED_METRICS_FILE } from '../../src/core/runs/rewind';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rewind-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const step = (n: number, extra = '') => `{"type":"step","step":${n},"loss":${(6 - n / 100).toFixed(3)}${extra}}\n`;
const evalRow = (n: number) => `{"type":"eval","step":${n},"valLoss":5.5}\n`;
const preflight = '{"type":"preflight","stepsPerEpoch":217,"totalSteps":200}\n';

describe('rewindMetrics', () => {
  it('moves the rows after the checkpoint step to metrics.superseded.jsonl, keeping the rest byte for byte', () => {
    const file = path.join(dir, 'metrics.jsonl');
    const kept = preflight + [1, 2, 3].map((n) => step(n)).join('') + evalRow(3);
    const past = step(4) + step(5, ',"note":"é ✓"') + evalRow(5);
    fs.writeFileSync(file, kept + past);
    expect(rewindMetrics(file, 3)).toBe(3);
    expect(fs.readFileSync(file, 'utf8')).toBe(kept);
    expect(fs.readFileSync(path.join(dir, SUPERSEDED_METRICS_FILE), 'utf8')).toBe(past);
  });

  it('an unfinished last line (a write cut short by a crash) is moved too, ended with a newline', () => {
    const file = path.join(dir, 'metrics.jsonl');
    fs.writeFileSync(file, step(1) + step(2) + '{"type":"step","st');
    expect(rewindMetrics(file, 2)).toBe(1);
    expect(fs.readFileSync(file, 'utf8')).toBe(step(1) + step(2));
    expect(fs.readFileSync(path.join(dir, SUPERSEDED_METRICS_FILE), 'utf8')).toBe('{"type":"step","st\n');
  });

  it('nothing past the checkpoint: the file is untouched and no superseded file appears', () => {
    const file = path.join(dir, 'metrics.jsonl');
    fs.writeFileSync(file, step(1) + step(2) + evalRow(2));
    expect(rewindMetrics(file, 2)).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(step(1) + step(2) + evalRow(2));
    expect(fs.existsSync(path.join(dir, SUPERSEDED_METRICS_FILE))).toBe(false);
    expect(rewindMetrics(path.join(dir, 'missing.jsonl'), 2)).toBe(0);
  });

  it('finds the cut across chunk boundaries (a file of several MiB) and each step is then logged once after the resume', () => {
    const file = path.join(dir, 'metrics.jsonl');
    const pad = `,"pad":"${'x'.repeat(200)}"`;
    const rows: string[] = [];
    for (let n = 1; n <= 20_000; n++) rows.push(step(n, pad));
    fs.writeFileSync(file, rows.join(''));
    expect(fs.statSync(file).size).toBeGreaterThan(3 << 20);
    expect(rewindMetrics(file, 12_345)).toBe(20_000 - 12_345);
    // The resumed training appends steps 12346… again.
    fs.appendFileSync(file, rows.slice(12_345).join(''));
    const steps = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
    expect(fs.readFileSync(path.join(dir, SUPERSEDED_METRICS_FILE), 'utf8')).toBe(rows.slice(12_345).join(''));
  });
});
