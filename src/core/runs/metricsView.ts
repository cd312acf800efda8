// metrics.jsonl read for display in bounded memory and time, for a run of any length: one pass
// over the file in fixed-size chunks (never the whole file as one string), every eval and
// pre-flight row, and the step rows thinned for the loss chart by stepBuckets.ts (first row, the
// lowest and highest loss per bucket of steps, the last rows whole). Measured (npm run bench --
// --metrics): JSON.parse of every line is what makes a whole-file read take seconds at 1M steps,
// so a step row written the usual way (`{"type":"step",…}`) is recognised by a byte scan of its
// step, loss and tokens (stepScan.ts); every row returned is then read back and checked as readMetricRows checks
// it (decodeMetricsLine), and skipped with its line number when malformed. Lines that do not look
// like a step row (eval, pre-flight, anything else) are parsed and checked as they come. A file
// within the budget comes back exactly as readMetricRows reads it; `all` reads every row the same
// way, in chunks ("Load all"). readMetricRows stays the engine's reader of the whole file (resume).
import * as fs from 'node:fs';
import { isRecord } from '../../protocol/decode';
import { decodeMetricsLine, type MetricsLine } from '../../protocol/metrics';
import { RunStoreError } from '../util/durableFiles';
import { parseRow, type MetricRowsRead } from './metrics';
import { StepBuckets, type StepRef } from './stepBuckets';
import { scanned, scanStepLine } from './stepScan';

export interface MetricsViewOptions {
  /** The most step rows returned (default 4000): the first, 2 per bucket of steps, and the tail. */
  maxStepRows?: number;
  /** The last step rows returned as they are (default 1000, at most a quarter of maxStepRows). */
  tailRows?: number;
  /** Bytes read at a time (default 1 MiB; tests make it small to cut lines across chunks). */
  chunkBytes?: number;
  /**
   * Every row, none thinned ("Load all"): readMetricRows' result (but for lines over 1 MiB and the
   * list of skipped lines, as above), read in chunks (no whole-file string, no array of lines) and
   * parsed without a reviver where a line has nothing to revive.
   */
  all?: boolean;
}

export interface MetricsView extends MetricRowsRead {
  /**
   * The step, eval and pre-flight rows, in file order: every eval and pre-flight row, and the step
   * rows kept. A step row that stands for thinned rows before it carries their tokens too, so that
   * the running sum of `tokens` (the chart's tokens axis) is the file's at every row shown.
   */
  rows: MetricsLine[];
  /** Step rows in the file. */
  stepRows: number;
  /** Step rows in `rows`. */
  shownStepRows: number;
  /** Whether step rows were thinned (false: `rows` is every row, as readMetricRows reads them). */
  downsampled: boolean;
  /** When downsampled: the first step of the tail, from which every row is there. */
  tailFromStep?: number;
  /** Bytes of metrics.jsonl read. */
  bytes: number;
  /** Skipped lines found beyond those listed in `skipped` (the first 200 found). */
  moreSkipped: number;
}

const DEFAULT_MAX_STEPS = 4000;
const DEFAULT_TAIL = 1000;
const DEFAULT_CHUNK = 1 << 20; // measured: 64 KiB–4 MiB within noise at 1M rows
/** A metrics row is under 2 KB; a longer line is skipped without being held whole. */
const MAX_LINE_BYTES = 1 << 20;
const MAX_SKIPPED_LISTED = 200;

/**
 * A bounded view of a metrics.jsonl for the panel (see the file comment). A missing file is an
 * empty run. Only the bytes present when it starts are read: a live run appends behind it.
 */
export function readMetricsView(file: string, opts: MetricsViewOptions = {}): MetricsView {
  const read = startRead(file, opts);
  if (!('fd' in read)) return read;
  try {
    let r = read.steps.next();
    while (!r.done) r = read.steps.next();
    return assemble(read.fd, read.scan, r.value);
  } finally {
    fs.closeSync(read.fd);
  }
}

/**
 * readMetricsView, giving the event loop a turn after each chunk: the extension host stays
 * responsive while "Load all" reads a long run for seconds.
 */
export async function readMetricsViewAsync(file: string, opts: MetricsViewOptions = {}): Promise<MetricsView> {
  const read = startRead(file, opts);
  if (!('fd' in read)) return read;
  try {
    let r = read.steps.next();
    while (!r.done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      r = read.steps.next();
    }
    return assemble(read.fd, read.scan, r.value);
  } finally {
    fs.closeSync(read.fd);
  }
}

/** The open file and its pass (one step per chunk, returning the bytes read), or the empty view of a missing file. */
function startRead(file: string, opts: MetricsViewOptions): { fd: number; scan: Scan; steps: Generator<void, number> } | MetricsView {
  const maxSteps = Math.max(16, Math.floor(opts.maxStepRows ?? DEFAULT_MAX_STEPS));
  const tail = Math.max(1, Math.min(Math.floor(opts.tailRows ?? DEFAULT_TAIL), Math.floor(maxSteps / 4)));
  const buckets = new StepBuckets(Math.floor((maxSteps - tail - 1) / 2), tail);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], skipped: [], truncatedTail: false, stepRows: 0, shownStepRows: 0, downsampled: false, bytes: 0, moreSkipped: 0 };
    throw new RunStoreError(`${file} cannot be read (${(e as Error).message}); check the folder's permissions.`, file);
  }
  const scan = new Scan(buckets, opts.all === true);
  return { fd, scan, steps: scanFile(fd, Math.max(64, opts.chunkBytes ?? DEFAULT_CHUNK), scan) };
}

/** What the pass over the file collects. */
class Scan {
  /** Eval and pre-flight rows (and step rows whose lines needed a full parse are re-read like the others). */
  readonly others: { line: number; row: MetricsLine }[] = [];
  readonly skipped: { line: number; reason: string }[] = [];
  moreSkipped = 0;
  truncatedTail = false;
  /** Step rows read in `all` mode (otherwise the buckets count them). */
  allSteps = 0;
  cumTokens = 0;

  constructor(
    readonly buckets: StepBuckets,
    /** Keep every row (no thinning): step rows join `others` as they are read. */
    readonly all: boolean,
  ) {}

  skip(line: number, reason: string): void {
    if (this.skipped.length < MAX_SKIPPED_LISTED) this.skipped.push({ line, reason });
    else this.moreSkipped++;
  }

  step(step: number, loss: number, tokens: number, offset: number, length: number, line: number): void {
    this.cumTokens += Number.isFinite(tokens) ? tokens : 0;
    this.buckets.add(step, loss, offset, length, line, this.buckets.count, this.cumTokens);
  }

  /** A line that needs JSON.parse: checked now; a step row among them joins the others for thinning. */
  parsed(text: string, offset: number, length: number, line: number, unterminated: boolean): void {
    if (text.trim() === '') return;
    const obj = parseLine(text);
    if (!obj) {
      if (unterminated) this.truncatedTail = true;
      else this.skip(line, 'not a JSON object');
      return;
    }
    const d = decodeMetricsLine(obj);
    if (!d.ok) this.skip(line, d.error);
    else if (d.value.type === 'step' && !this.all) this.step(d.value.step, d.value.loss, d.value.tokens, offset, length, line);
    else {
      if (d.value.type === 'step') this.allSteps++;
      this.others.push({ line, row: d.value });
    }
  }
}

/** Reads the file once, line by line, in chunks of `chunk` bytes, pausing after each; returns the bytes read. */
function* scanFile(fd: number, chunk: number, scan: Scan): Generator<void, number> {
  const size = fs.fstatSync(fd).size;
  let buf = Buffer.allocUnsafe(Math.min(chunk, Math.max(size, 64)));
  let filled = 0; // valid bytes in buf
  let base = 0; // file offset of buf[0]
  let pos = 0; // file offset read up to
  let line = 0; // lines ended so far
  let overlong = false; // inside a line over MAX_LINE_BYTES, dropped as it goes
  while (pos < size) {
    const n = fs.readSync(fd, buf, filled, Math.min(buf.length - filled, size - pos), pos);
    if (n === 0) break; // the file shrank
    pos += n;
    filled += n;
    const view = buf.subarray(0, filled);
    let p = 0;
    for (let nl = view.indexOf(10, 0); nl >= 0; nl = view.indexOf(10, p)) {
      line++;
      if (overlong) {
        overlong = false;
        scan.skip(line, `the line is over ${MAX_LINE_BYTES >> 20} MiB, longer than any metrics row`);
      } else if (nl > p) {
        if (!scan.all && scanStepLine(view, p, nl)) scan.step(scanned.step, scanned.loss, scanned.tokens, base + p, nl - p, line);
        else scan.parsed(view.toString('utf8', p, nl), base + p, nl - p, line, false);
      }
      p = nl + 1;
    }
    if (p === 0 && filled === buf.length) {
      // One line fills the buffer: grow it up to the longest plausible row, then drop the rest of the line.
      if (!overlong && buf.length < MAX_LINE_BYTES) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_LINE_BYTES));
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
        continue;
      }
      overlong = true;
      p = filled;
    }
    buf.copyWithin(0, p, filled);
    base += p;
    filled -= p;
    yield;
  }
  // What follows the last newline: a complete row written without its newline, or one cut short by a crash.
  if (overlong) scan.truncatedTail = true;
  else if (filled > 0) scan.parsed(buf.toString('utf8', 0, filled), base, filled, line + 1, true);
  return pos;
}

/**
 * parseRow's result, without its reviver when nothing in the line can be revived: a JSON string
 * equal to "NaN", "Infinity" or "-Infinity" is written either as such or with a \\u escape. The
 * reviver (a call per value) triples the cost of JSON.parse on a step row (measured).
 */
function parseLine(text: string): Record<string, unknown> | undefined {
  if (text.includes('"NaN"') || text.includes('Infinity"') || text.includes('\\u')) return parseRow(text);
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

// --- Reading back the rows kept ---------------------------------------------------------------------

/** The kept step rows read back and checked, with the eval and pre-flight rows, in file order. */
function assemble(fd: number, scan: Scan, bytes: number): MetricsView {
  const kept = scan.buckets.kept();
  const stepRows = scan.all ? scan.allSteps : scan.buckets.count;
  const downsampled = !scan.all && kept.length < stepRows;
  const entries = scan.others; // every row, in `all` mode: not copied
  let buf = Buffer.allocUnsafe(4096);
  let prev: StepRef | undefined;
  let shown = scan.allSteps;
  for (const ref of kept) {
    if (ref.length > buf.length) buf = Buffer.allocUnsafe(ref.length);
    const n = fs.readSync(fd, buf, 0, ref.length, ref.offset);
    const obj = parseLine(buf.toString('utf8', 0, n));
    const d = obj ? decodeMetricsLine(obj) : { ok: false as const, error: 'not a JSON object' };
    if (!d.ok) {
      scan.skip(ref.line, d.error);
      continue;
    }
    let row = d.value;
    // Rows thinned out between this one and the previous one shown: their tokens ride on this one.
    if (downsampled && row.type === 'step' && ref.ordinal !== (prev ? prev.ordinal + 1 : 0)) row = { ...row, tokens: ref.cumTokens - (prev?.cumTokens ?? 0) };
    if (row.type === 'step') shown++;
    prev = ref;
    entries.push({ line: ref.line, row });
  }
  entries.sort((x, y) => x.line - y.line);
  scan.skipped.sort((x, y) => x.line - y.line);
  return {
    rows: entries.map((e) => e.row), skipped: scan.skipped, truncatedTail: scan.truncatedTail, stepRows, shownStepRows: shown, downsampled,
    ...(downsampled && { tailFromStep: scan.buckets.tailFromStep() }), bytes, moreSkipped: scan.moreSkipped,
  };
}
