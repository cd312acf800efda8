// The bounded reader of metrics.jsonl for the panel (src/core/runs/metricsView.ts), against
// invariants, with readMetricRows (the whole-file reader) as the reference: a file within the
// budget comes back exactly as readMetricRows reads it (chunks cut lines anywhere); a long one
// keeps every eval row, the first and last step, the highest loss (a planted spike) and the lowest,
// the last rows whole, at most the budget of step rows, and the file's running token count at every
// row shown; a line cut short by a crash and malformed lines are reported with their line numbers
// and the reasons readMetricRows gives. Nothing here is timed (npm run bench -- --metrics is).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMetricRows, readMetricsView, readMetricsViewAsync } from '../../src/core/runs';
import { metricLine } from '../../src/core/runs/metrics';
import type { MetricsLine, StepRow } from '../../src/protocol/metrics';

const time = '2024-05-01T10:00:00.000Z';
const step = (n: number, loss: number, tokens = 100 + (n % 7)): Record<string, unknown> => ({
  type: 'step', step: n, totalSteps: 1000, epoch: n / 100, loss, lr: 1e-4, gradNorm: 1.5, tokens, tokensPerSec: 1000.5, stepMs: 10, elapsedMs: 10 * n, time,
});
const evalRow = (n: number, valLoss: number) => ({ type: 'eval', step: n, valLoss, valPerplexity: Math.exp(valLoss), valTokens: 50, best: false, time });
const preflight = {
  type: 'preflight', counts: { trainable: 1, total: 2, base: 1, percent: 50, adaptedModules: 1, adapterBytes: 4 },
  memory: { weightsBytes: 1, optimizerBytes: 1, gradientBytes: 1, activationBytes: 1, totalBytes: 4 }, warmupMs: 1, stepsPerEpoch: 3, totalSteps: 3, secondsPerEpoch: 1, etaSeconds: 1,
};

function tmpFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-metrics-view-'));
  const file = path.join(dir, 'metrics.jsonl');
  fs.writeFileSync(file, text);
  return file;
}

const line = (m: Record<string, unknown>) => metricLine(m, 'metrics.jsonl');
/** A smooth, noisy loss curve (deterministic). */
const lossAt = (n: number) => 2 + Math.sin(n / 300) * 0.5 + ((n * 7919) % 101) / 1000;

/** `n` steps (+ an eval every `evalEvery`), with `plant` overriding some losses. */
function longRun(n: number, evalEvery: number, plant: Record<number, number> = {}): string {
  const out: string[] = [line(preflight)];
  for (let s = 1; s <= n; s++) {
    out.push(line(step(s, plant[s] ?? lossAt(s))));
    if (s % evalEvery === 0) out.push(line(evalRow(s, 2 - s / (10 * n))));
  }
  return out.join('');
}

const stepsOf = (rows: readonly MetricsLine[]) => rows.filter((r): r is StepRow => r.type === 'step');

describe('metrics view (bounded reader)', () => {
  it('a file within the budget comes back exactly as readMetricRows reads it, whatever the chunk size', () => {
    const text = [
      line(preflight), line(step(1, 3)), line(step(2, Number.NaN)), '\n', line(evalRow(2, 2.5)),
      line({ ...step(3, 2.9), loss: 'abc' }), 'not json\n', '[1,2]\n',
      JSON.stringify({ time, tokens: 5, loss: 2.5, step: 4, type: 'step', totalSteps: 9, epoch: 1, lr: 1, gradNorm: 1, tokensPerSec: 1, stepMs: 1, elapsedMs: 1 }) + '\r\n', // another key order, CRLF
      line(step(5, 2.7)).trimEnd() + '\n', line(step(6, Number.POSITIVE_INFINITY)),
      line(step(7, Number.NaN)).replace('"NaN"', '"\\u004eaN"'), // revived like a plain NaN
      '{"type":"step","step":8,"totalSteps":9,"epoch":0.1,"lo', // cut short by a crash
    ].join('');
    const file = tmpFile(text);
    const whole = readMetricRows(file);
    expect(whole.skipped.map((s) => s.line)).toEqual([6, 7, 8]);
    expect(whole.truncatedTail).toBe(true);
    expect(stepsOf(whole.rows).at(-1)).toMatchObject({ step: 7, loss: Number.NaN });
    for (const [chunkBytes, all] of [[64, false], [100, false], [257, true], [1 << 20, false], [1 << 20, true]] as const) {
      const v = readMetricsView(file, { chunkBytes, all });
      expect(v.rows).toEqual(whole.rows);
      expect(v.skipped).toEqual(whole.skipped);
      expect(v.truncatedTail).toBe(true);
      expect(v).toMatchObject({ stepRows: 6, shownStepRows: 6, downsampled: false, bytes: Buffer.byteLength(text), moreSkipped: 0 });
      expect(v.tailFromStep).toBeUndefined();
    }
  });

  it('a complete last row without its newline is a row, not a truncated tail (as readMetricRows)', () => {
    const file = tmpFile(line(step(1, 3)) + line(step(2, 2.5)).trimEnd());
    const v = readMetricsView(file);
    expect(v.rows).toEqual(readMetricRows(file).rows);
    expect(v.truncatedTail).toBe(false);
    expect(stepsOf(v.rows).map((r) => r.step)).toEqual([1, 2]);
  });

  it('a missing file is an empty run', () => {
    expect(readMetricsView(path.join(os.tmpdir(), 'no-such-dir-lora', 'metrics.jsonl'))).toMatchObject({ rows: [], skipped: [], stepRows: 0, downsampled: false });
  });

  describe('a long run (20,000 steps, a budget of 400 step rows)', () => {
    const n = 20_000;
    const spikeStep = 7_777;
    const dipStep = 12_345;
    const file = tmpFile(longRun(n, 500, { [spikeStep]: 50, [dipStep]: 0.01 }));
    const whole = readMetricRows(file);
    const wholeSteps = stepsOf(whole.rows);
    const v = readMetricsView(file, { maxStepRows: 400, tailRows: 100, chunkBytes: 4096 });
    const shown = stepsOf(v.rows);

    it('is bounded and says so: step rows in the file, rows shown, where the whole tail starts', () => {
      expect(v.downsampled).toBe(true);
      expect(v.stepRows).toBe(n);
      expect(v.shownStepRows).toBe(shown.length);
      expect(shown.length).toBeLessThanOrEqual(400);
      expect(shown.length).toBeGreaterThan(200); // buckets half full at worst
      expect(v.tailFromStep).toBe(n - 99);
      expect(v.skipped).toEqual([]);
    });

    it('keeps every eval row and the pre-flight row, exactly', () => {
      expect(v.rows.filter((r) => r.type !== 'step')).toEqual(whole.rows.filter((r) => r.type !== 'step'));
      expect(v.rows.filter((r) => r.type === 'eval')).toHaveLength(n / 500);
    });

    it('keeps the first and last step, the planted spike (the highest loss) and the lowest loss', () => {
      const steps = shown.map((r) => r.step);
      expect(steps[0]).toBe(1);
      expect(steps[steps.length - 1]).toBe(n);
      expect(shown.find((r) => r.step === spikeStep)?.loss).toBe(50);
      expect(shown.find((r) => r.step === dipStep)?.loss).toBe(0.01);
      expect(Math.max(...shown.map((r) => r.loss))).toBe(Math.max(...wholeSteps.map((r) => r.loss)));
      expect(Math.min(...shown.map((r) => r.loss))).toBe(Math.min(...wholeSteps.map((r) => r.loss)));
    });

    it('returns rows in file order, each as readMetricRows reads it but for tokens, and the last 100 rows whole', () => {
      const byStep = new Map(wholeSteps.map((r) => [r.step, r]));
      for (const r of shown) expect({ ...r, tokens: 0 }).toEqual({ ...byStep.get(r.step)!, tokens: 0 });
      const order = v.rows.map((r) => ('step' in r ? r.step : 0));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      // The first row of the tail carries the tokens of the thinned rows before it; the rest are as written.
      expect(shown.slice(-100).map((r) => r.step)).toEqual(wholeSteps.slice(-100).map((r) => r.step));
      expect(shown.slice(-99)).toEqual(wholeSteps.slice(-99));
    });

    it('carries the tokens of thinned rows: the running token count at each row shown is the file’s', () => {
      const cumAt = new Map<number, number>();
      let cum = 0;
      for (const r of wholeSteps) cumAt.set(r.step, (cum += r.tokens));
      let shownCum = 0;
      for (const r of shown) expect((shownCum += r.tokens)).toBe(cumAt.get(r.step));
    });

    it('reads the same whatever the chunk size', () => {
      expect(readMetricsView(file, { maxStepRows: 400, tailRows: 100, chunkBytes: 1 << 20 }).rows).toEqual(v.rows);
    });

    it('`all` ("Load all") reads every row, exactly as readMetricRows', () => {
      const a = readMetricsView(file, { all: true, chunkBytes: 4096 });
      expect(a.rows).toEqual(whole.rows);
      expect(a).toMatchObject({ stepRows: n, shownStepRows: n, downsampled: false, skipped: [] });
    });
  });

  it('a diverged loss (NaN) in the thinned part is kept as its bucket’s highest', () => {
    const file = tmpFile(longRun(5_000, 1_000, { 2_500: Number.NaN }));
    const shown = stepsOf(readMetricsView(file, { maxStepRows: 100, tailRows: 20 }).rows);
    expect(shown.find((r) => r.step === 2_500)?.loss).toBeNaN();
  });

  it('malformed lines and a truncated tail in a long run are reported with their line numbers and readMetricRows’ reasons', () => {
    const lines = longRun(5_000, 1_000).split('\n');
    lines[100] = 'garbage {';
    lines[2_000] = lines[2_000].replace(/"loss":[^,]+/, '"loss":"abc"');
    lines[3_000] = lines[3_000].replace(/"time":"[^"]*"/, '"time":5'); // looks like a step row to the byte scan
    lines[3_001] = '{"type":"step","step":3001,"totalSteps":5000,"epoch":1,"loss":2,"lr":0.0'; // a line cut short, then a newline (repaired tail)
    lines[lines.length - 1] = '{"type":"step","step":5001,"loss":'; // the file ends mid-line
    const file = tmpFile(lines.join('\n'));
    const whole = readMetricRows(file);
    const v = readMetricsView(file, { maxStepRows: 100, tailRows: 20, chunkBytes: 1000 });
    expect(v.truncatedTail).toBe(true);
    expect(whole.truncatedTail).toBe(true);
    const inView = new Set(v.skipped.map((s) => s.line));
    expect(inView.has(101) && inView.has(2_001) && inView.has(3_002)).toBe(true);
    // Every skip reported is one readMetricRows reports, with the same reason; a row that the byte
    // scan took and that was thinned out is only checked by the whole read.
    for (const s of v.skipped) expect(whole.skipped).toContainEqual(s);
    expect(readMetricsView(file, { all: true, chunkBytes: 1000 })).toMatchObject({ rows: whole.rows, skipped: whole.skipped, truncatedTail: true });
    expect(whole.skipped.map((s) => s.line)).toEqual([101, 2_001, 3_001, 3_002]);
    expect(stepsOf(v.rows).every((r) => typeof r.time === 'string')).toBe(true);
  });

  it('a line over 1 MiB is skipped with its line number, without being held whole', () => {
    const file = tmpFile(line(step(1, 3)) + `{"type":"step","note":"${'x'.repeat(1_200_000)}"}\n` + line(step(3, 2)));
    const v = readMetricsView(file, { chunkBytes: 4096 });
    expect(stepsOf(v.rows).map((r) => r.step)).toEqual([1, 3]);
    expect(v.skipped).toEqual([{ line: 2, reason: expect.stringMatching(/over 1 MiB/) }]);
  });

  it('steps logged again after a resume stay in file order; the view is still bounded', () => {
    const out: string[] = [];
    for (let s = 1; s <= 3_000; s++) out.push(line(step(s, lossAt(s))));
    for (let s = 2_500; s <= 6_000; s++) out.push(line(step(s, lossAt(s) + 0.1)));
    const file = tmpFile(out.join(''));
    const v = readMetricsView(file, { maxStepRows: 200, tailRows: 50 });
    const shown = stepsOf(v.rows);
    expect(shown.length).toBeLessThanOrEqual(200);
    expect(v.stepRows).toBe(6_501);
    expect(shown[0].step).toBe(1);
    expect(shown[shown.length - 1].step).toBe(6_000);
  });
});

describe('metrics view, read between turns of the event loop', () => {
  it('readMetricsViewAsync gives what readMetricsView gives, and lets timers run while it reads', async () => {
    const file = tmpFile(longRun(3_000, 500, { 1_234: 9 }));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const v = await readMetricsViewAsync(file, { maxStepRows: 100, tailRows: 20, chunkBytes: 4096 });
    clearInterval(timer);
    expect(v).toEqual(readMetricsView(file, { maxStepRows: 100, tailRows: 20, chunkBytes: 4096 }));
    expect(stepsOf(v.rows).find((r) => r.step === 1_234)?.loss).toBe(9);
    expect(ticks).toBeGreaterThan(0);
    expect(await readMetricsViewAsync(path.join(os.tmpdir(), 'no-such-dir-lora', 'metrics.jsonl'))).toMatchObject({ rows: [], stepRows: 0 });
  });
});
