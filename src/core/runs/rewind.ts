// Rewinding metrics.jsonl to a checkpoint before a resume. A run interrupted at step 37 with its
// last checkpoint at step 30 has rows for steps 31…37 that the resumed training will log again (it
// restarts from the checkpoint's state): left in place, the chart and every reader would see those
// steps twice. Like TensorBoard's purge_step, the rows past the checkpoint are taken out of
// metrics.jsonl; nothing is lost: they are appended to metrics.superseded.jsonl first, then the
// file is cut where they began. Steps only grow within one attempt and every resume rewinds, so
// the rows past the checkpoint are one tail of the file: it is found by a chunked scan, never by
// reading the whole file into memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir } from '../util/durableFiles';

export const SUPERSEDED_METRICS_FILE = 'metrics.superseded.jsonl';

const CHUNK = 1 << 20;

/** The step of one metrics line, or undefined (no step field, or not JSON: kept where it is). */
function stepOf(line: string): number | undefined {
  if (!line.includes('"step"')) return undefined;
  try {
    const v = JSON.parse(line) as { step?: unknown };
    return typeof v === 'object' && v !== null && typeof v.step === 'number' ? v.step : undefined;
  } catch {
    return undefined;
  }
}

/** Byte offset of the first complete line whose step is above `step` (or a cut-short tail), or undefined. */
function firstLinePast(file: string, step: number): number | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = Buffer.alloc(0);
    let carryStart = 0; // file offset of carry[0]
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      pos += n;
      const data = Buffer.concat([carry, buf.subarray(0, n)]);
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        const s = stepOf(data.toString('utf8', start, nl));
        if (s !== undefined && s > step) return carryStart + start;
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryStart += start;
    }
    // A last line without a newline: complete (it parses) or a write cut short by the crash.
    if (carry.length > 0) {
      const text = carry.toString('utf8');
      if (text.trim() === '') return undefined;
      const s = stepOf(text);
      if (s === undefined || s > step) return carryStart;
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Moves the rows of `metricsFile` logged after step `step` (and an unfinished last line) to
 * metrics.superseded.jsonl beside it. Returns how many lines moved (0 when none).
 */
export function rewindMetrics(metricsFile: string, step: number): number {
  if (!fs.existsSync(metricsFile)) return 0;
  const cut = firstLinePast(metricsFile, step);
  if (cut === undefined) return 0;
  const size = fs.statSync(metricsFile).size;
  const fd = fs.openSync(metricsFile, 'r+');
  const out = fs.openSync(path.join(path.dirname(metricsFile), SUPERSEDED_METRICS_FILE), 'a');
  try {
    // Copy the tail out as bytes, in chunks (it can be long if a run went far past its checkpoint).
    const buf = Buffer.alloc(CHUNK);
    let lines = 0;
    let last = 10;
    for (let pos = cut; pos < size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos);
      if (n === 0) break;
      for (let i = 0; i < n; i++) if (buf[i] === 10) lines++;
      last = buf[n - 1];
      fs.writeSync(out, buf, 0, n);
      pos += n;
    }
    if (last !== 10) {
      fs.writeSync(out, '\n');
      lines++;
    }
    fs.fsyncSync(out);
    fs.ftruncateSync(fd, cut);
    fs.fsyncSync(fd);
    fsyncDir(path.dirname(metricsFile));
    return lines;
  } finally {
    fs.closeSync(out);
    fs.closeSync(fd);
  }
}
