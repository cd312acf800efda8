// metrics.jsonl: one JSON object per line, appended and fsynced as training goes, and read back
// tolerantly so that a crash mid-write costs at most the line being written. readMetricRows also
// checks each row against its type (src/protocol/metrics.ts) and skips a malformed one with its
// line number and the reason.
import * as fs from 'node:fs';
import { isRecord } from '../../protocol/decode';
import { decodeMetricsLine, type MetricsLine } from '../../protocol/metrics';
import { appendDurable, endsMidLine, RunStoreError } from '../util/durableFiles';

export interface MetricsRead {
  rows: Record<string, unknown>[];
  /** The file ended in an unparsable line without a newline: a write cut short by a crash. */
  truncatedTail: boolean;
  /** 1-based numbers of complete lines that are not JSON objects (skipped). */
  corruptLines: number[];
}

// JSON has no NaN or Infinity, and JSON.stringify would turn them into null, hiding a diverged
// loss. They are written as these strings and turned back into numbers when read.
const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** One metrics line: no raw newline can occur (JSON.stringify escapes them inside strings). */
export function metricLine(m: Record<string, unknown>, file: string): string {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new RunStoreError(`a metrics entry must be a plain object, got ${Array.isArray(m) ? 'an array' : typeof m}`, file);
  }
  const line = JSON.stringify(m, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v === 'bigint' ? Number(v) : v));
  return `${line}\n`;
}

/**
 * Append one line and fsync. `repairTail` first ends a line left unterminated by a crash, so the
 * new line never glues onto the broken one (the broken line is then skipped as corrupt).
 */
export function appendMetricLine(file: string, m: Record<string, unknown>, repairTail: boolean): void {
  const line = metricLine(m, file);
  appendDurable(file, repairTail && endsMidLine(file) ? `\n${line}` : line);
}

/** Read every row; a missing file is an empty run (nothing logged yet). */
export function readMetricsFile(file: string): MetricsRead {
  const { objects, truncatedTail, corruptLines } = readObjects(file);
  return { rows: objects.map((o) => o.row), truncatedTail, corruptLines };
}

export interface MetricRowsRead {
  /** The step, eval and pre-flight rows, in file order. */
  rows: MetricsLine[];
  /** Lines skipped: not JSON objects, or rows whose fields do not match their type (1-based line, reason). */
  skipped: { line: number; reason: string }[];
  truncatedTail: boolean;
}

/** Read and check every row: a malformed one is skipped with its line number and what is wrong with it. */
export function readMetricRows(file: string): MetricRowsRead {
  const { objects, truncatedTail, corruptLines } = readObjects(file);
  const out: MetricRowsRead = { rows: [], skipped: corruptLines.map((line) => ({ line, reason: 'not a JSON object' })), truncatedTail };
  for (const { line, row } of objects) {
    const d = decodeMetricsLine(row);
    if (d.ok) out.rows.push(d.value);
    else out.skipped.push({ line, reason: d.error });
  }
  out.skipped.sort((a, b) => a.line - b.line);
  return out;
}

interface ObjectsRead {
  /** Each parsed object with its 1-based line number. */
  objects: { line: number; row: Record<string, unknown> }[];
  truncatedTail: boolean;
  corruptLines: number[];
}

function readObjects(file: string): ObjectsRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { objects: [], truncatedTail: false, corruptLines: [] };
    throw new RunStoreError(`${file} cannot be read (${(e as Error).message}); check the folder's permissions.`, file);
  }
  const lines = text.split('\n');
  // After the split, the last element is '' when the file ends in a newline, otherwise it is the
  // unterminated tail.
  const tail = lines.pop() ?? '';
  const out: ObjectsRead = { objects: [], truncatedTail: false, corruptLines: [] };
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    const row = parseRow(l);
    if (row) out.objects.push({ line: i + 1, row });
    else out.corruptLines.push(i + 1);
  });
  if (tail.trim() !== '') {
    // A tail that parses was cut exactly before its newline: it is complete.
    const row = parseRow(tail);
    if (row) out.objects.push({ line: lines.length + 1, row });
    else out.truncatedTail = true;
  }
  return out;
}

/** One line as JSON with non-finite numbers restored, or undefined when it is not a JSON object (the rule of every reader here). */
export function parseRow(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line, (_k, x: unknown) => (typeof x === 'string' && Object.hasOwn(NON_FINITE, x) ? NON_FINITE[x] : x));
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
