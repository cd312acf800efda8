// The spike rule (protocol/spikes.ts) on synthetic curves: a flat noisy curve and a falling one
// have none, planted spikes are found at their steps, NaN is skipped and +Infinity flagged; and
// readFileLines (core/runs/fileLines.ts) gives lines numbered as the dataset readers number them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findSpikes, MIN_WINDOW } from '../../src/protocol/spikes';
import { readFileLines } from '../../src/core/runs/fileLines';
import { Rng } from '../../src/core/util/rng';

/** Normal noise by Box–Muller from the project's seeded Rng. */
function noise(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

const curve = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: f(i) }));

describe('findSpikes (median + 6·1.4826·MAD of the previous 50 steps)', () => {
  it('a flat noisy curve (2.0 ± 0.05, 5,000 steps, 5 seeds) has no spike', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      expect(findSpikes(curve(5000, () => 2 + 0.05 * noise(rng)))).toEqual([]);
    }
  });

  it('a falling curve (exponential decay with noise, and a steep linear fall) has no spike', () => {
    const rng = new Rng(7);
    expect(findSpikes(curve(2000, (i) => 0.8 + 3 * Math.exp(-i / 150) + 0.02 * noise(rng)))).toEqual([]);
    expect(findSpikes(curve(500, (i) => 10 - 0.015 * i))).toEqual([]);
  });

  it('planted spikes are found at their steps, and only they, on a noisy falling curve', () => {
    const rng = new Rng(3);
    const planted = new Set([120, 400, 401, 900]);
    const points = curve(1000, (i) => 0.8 + 2 * Math.exp(-i / 300) + 0.03 * noise(rng) + (planted.has(i + 1) ? 1.5 : 0));
    const found = findSpikes(points);
    expect(found.map((s) => s.step)).toEqual([...planted]);
    for (const s of found) {
      expect(s.loss).toBeGreaterThan(s.threshold);
      expect(s.score).toBeGreaterThan(6);
    }
  });

  it('no step is judged before 10 earlier steps; a curve flat to the last digit does not flag a 0.01% rise (floor 0.1% of the median)', () => {
    const early = curve(MIN_WINDOW, (i) => (i === MIN_WINDOW - 1 ? 100 : 1));
    expect(findSpikes(early)).toEqual([]);
    expect(findSpikes(curve(100, (i) => (i === 60 ? 2.0002 : 2)))).toEqual([]);
    expect(findSpikes(curve(100, (i) => (i === 60 ? 2.2 : 2))).map((s) => s.step)).toEqual([61]);
  });

  it('NaN is skipped (not judged, not in a window); +Infinity is a spike', () => {
    const rng = new Rng(5);
    const points = curve(200, (i) => (i === 50 || i === 51 ? Number.NaN : i === 150 ? Number.POSITIVE_INFINITY : 1 + 0.01 * noise(rng)));
    const found = findSpikes(points);
    expect(found.map((s) => s.step)).toEqual([151]);
    expect(found[0].score).toBe(Number.POSITIVE_INFINITY);
    expect(findSpikes(curve(100, () => Number.NaN))).toEqual([]);
  });
});

describe('readFileLines', () => {
  it('returns the wanted lines by 1-based number (CRLF, BOM, a last line without a break, lines past the end absent), cut to maxChars', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lines-'));
    const file = path.join(dir, 'a.csv');
    const long = 'x'.repeat(200_000);
    fs.writeFileSync(file, `\ufefffirst\r\nsecond\n\n${long}\nlast without break`);
    const got = await readFileLines(file, [1, 2, 3, 4, 5, 6], 80);
    expect([...got.entries()]).toEqual([[1, 'first'], [2, 'second'], [3, ''], [4, 'x'.repeat(80)], [5, 'last without break']]);
    const ended = path.join(dir, 'b.txt');
    fs.writeFileSync(ended, 'a\nb\n');
    expect([...(await readFileLines(ended, [2, 3])).entries()]).toEqual([[2, 'b']]);
  });
});
