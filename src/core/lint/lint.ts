// Dataset lint: one streaming pass over a dataset file (and its validation file) with the same
// readers, row checks, chat template and tokenizer as training, reporting every problem rather
// than the first: what training would refuse (errors), what it would train on but the user
// probably did not mean (warnings: rows cut by max_seq_len, empty assistant turns, duplicates,
// validation rows that are also training rows, templates that drop content, EOS surprises) and
// what the file holds (info: counts, token-length percentiles, the share of tokens with loss).
//
// Memory: bounded by the row limit, the diagnostics cap per code and file, a length histogram,
// and one 52-bit hash per row for duplicates and leakage (a Map entry, about 40 bytes a row).
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { LINT_CODES, type LengthStats, type LintCode, type LintDiagnostic, type LintFileSummary, type LintReport } from '../../protocol/lint';
import type { LoraTokenizer } from '../hf/tokenizer';
import { checkpointRows } from '../data/cancel';
import { RowEncoder, type RowAnalysis, type Vocabulary } from '../data/encode';
import { DatasetError, RowError } from '../data/errors';
import { readExclusions, type Exclusions } from '../data/exclusions';
import { findSiblingValidFile, inspectFile } from '../data/files';
import { maxRowBytesOf } from '../data/limits';
import { readRecords } from '../data/load';
import { plainTextExamples, readTextChunks } from '../data/plainText';
import { detectCsvFormat, detectFormat, fieldNames, toRow, unknownShapeReason, type Row, type RowFormat } from '../data/rows';
import type { ColumnNames } from '../data/types';

export interface LintOptions {
  /** The validation file; undefined → the sibling valid/val/validation file training would use, if any. `false`: none. */
  validFile?: string | false;
  /** The model's tokenizer; without it only the structural checks run (and input_ids rows). */
  tokenizer?: LoraTokenizer;
  vocab?: Vocabulary;
  /** The model folder (for the summary). */
  model?: string;
  /** Why there is no tokenizer, for the summary ("no --model given"). */
  noTokenizerReason?: string;
  maxSeqLen: number;
  columns?: ColumnNames;
  maxRowBytes?: number;
  signal?: AbortSignal;
  /** Diagnostics kept per code and file (the counts stay exact). Default 200. */
  maxPerCode?: number;
  /**
   * false: no tokenizing (the structure, duplicates, leakage and EOS-text checks only; the
   * tokenizer, if given, is used for its EOS token). What a training run adds to its own pass.
   */
  tokens?: boolean;
}

/** The code of a row problem, from the reason the row checks give (src/core/data/rows.ts, encode.ts). */
export function codeOfReason(reason: string): LintCode {
  if (/^bad JSON/.test(reason)) return 'syntax';
  if (/^wrong type/.test(reason)) return 'wrong-type';
  if (/^missing field/.test(reason)) return 'missing-field';
  if (/^empty "/.test(reason)) return 'empty-field';
  if (/roles must be one of/.test(reason)) return 'unknown-role';
  if (/^no assistant message/.test(reason)) return 'no-assistant';
  if (/outside the vocabulary/.test(reason)) return 'out-of-vocab';
  if (/^none of the dataset fields/.test(reason)) return 'unknown-shape';
  if (/has \d+ fields but the header has/.test(reason)) return 'syntax';
  if (/an example needs at least 2/.test(reason)) return 'too-short';
  if (/trains on nothing|no token carries loss/.test(reason)) return 'no-loss';
  if (/chat template/.test(reason)) return 'template';
  return 'row';
}

/** The code and line of a DatasetError that stops reading a file. */
function fileProblem(e: DatasetError, file: string): { line: number; code: LintCode; message: string } {
  const m = /^(.*?):(\d+): ([\s\S]*)$/.exec(e.message);
  const line = m && path.resolve(m[1]) === path.resolve(file) ? Number(m[2]) : 1;
  const message = m && path.resolve(m[1]) === path.resolve(file) ? m[3] : e.message;
  const code: LintCode = /invalid UTF-8/.test(message) ? 'invalid-utf8' : /over the .* limit/.test(message) ? 'row-too-long' : /syntax error|JSON/.test(message) ? 'syntax' : 'file';
  return { line, code, message };
}

function percentile(hist: Map<number, number>, n: number, q: number): number {
  if (n === 0) return 0;
  const keys = [...hist.keys()].sort((a, b) => a - b);
  const rank = Math.ceil(q * n);
  let seen = 0;
  for (const k of keys) {
    seen += hist.get(k)!;
    if (seen >= rank) return k;
  }
  return keys[keys.length - 1];
}

function lengthStats(hist: Map<number, number>, n: number): LengthStats {
  return { p50: percentile(hist, n, 0.5), p90: percentile(hist, n, 0.9), p99: percentile(hist, n, 0.99), max: n ? Math.max(...hist.keys()) : 0 };
}

/** A 52-bit hash of a row's content (what "exact duplicate" compares), as a Map key. */
function rowHash(row: Row): number {
  const h = createHash('sha1').update(JSON.stringify(row)).digest();
  return h.readUIntBE(0, 6) * 16 + (h[6] >> 4);
}

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** The diagnostics of one file, capped per code, with exact counts. */
class Sink {
  readonly kept: LintDiagnostic[] = [];
  private readonly perCode = new Map<LintCode, number>();
  errors = 0;
  warnings = 0;
  omitted = 0;

  constructor(
    readonly file: string,
    private readonly cap: number,
  ) {}

  add(d: Omit<LintDiagnostic, 'file' | 'severity'> & { file?: string }): void {
    const severity = LINT_CODES[d.code];
    if (severity === 'error') this.errors++;
    else if (severity === 'warning') this.warnings++;
    const n = (this.perCode.get(d.code) ?? 0) + 1;
    this.perCode.set(d.code, n);
    if (n > this.cap && severity !== 'info') {
      this.omitted++;
      return;
    }
    this.kept.push({ file: this.file, severity, ...d });
  }

  count(code: LintCode): number {
    return this.perCode.get(code) ?? 0;
  }
}

interface FileScan {
  summary: LintFileSummary;
  sink: Sink;
  /** Row hash → first line, for leakage checks against the other file. */
  hashes: Map<number, number>;
  /** Whether the file is JSON Lines (one row per line: a row can be deleted by a quick fix). */
  lineRows: boolean;
}

/** Stats of the token-level pass over one file. */
class TokenStats {
  total = 0;
  kept = 0;
  loss = 0;
  lossDropped = 0;
  overMaxLen = 0;
  rows = 0;
  readonly hist = new Map<number, number>();

  add(a: Pick<RowAnalysis, 'total' | 'kept' | 'lossTotal' | 'lossKept'>): void {
    this.rows++;
    this.total += a.total;
    this.kept += a.kept;
    this.loss += a.lossKept;
    this.lossDropped += a.lossTotal - a.lossKept;
    if (a.total > a.kept) this.overMaxLen++;
    this.hist.set(a.total, (this.hist.get(a.total) ?? 0) + 1);
  }

  summary(): NonNullable<LintFileSummary['tokens']> {
    return { total: this.total, kept: this.kept, loss: this.loss, lossDropped: this.lossDropped, overMaxLen: this.overMaxLen, lengths: lengthStats(this.hist, this.rows) };
  }
}

async function scanFile(file: string, opts: LintOptions, role: 'train' | 'valid', other?: FileScan): Promise<FileScan> {
  const sink = new Sink(file, opts.maxPerCode ?? 200);
  const summary: LintFileSummary = { file, rows: 0, examples: 0, errors: 0, warnings: 0, duplicates: 0, leaked: 0 };
  const hashes = new Map<number, number>();
  const scan: FileScan = { summary, sink, hashes, lineRows: false };
  const finish = (): FileScan => {
    summary.errors = sink.errors;
    summary.warnings = sink.warnings;
    return scan;
  };
  let info: Awaited<ReturnType<typeof inspectFile>>;
  try {
    info = await inspectFile(file);
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    const p = fileProblem(e, file);
    sink.add({ line: p.line, code: p.code, message: p.message });
    return finish();
  }
  scan.lineRows = info.kind === 'jsonl' || (info.kind === 'json' && info.head.trimStart().startsWith('{'));
  // Rows on the exclusion list are left out as training leaves them out (core/data/exclusions.ts).
  let exclusions: Exclusions | undefined;
  try {
    exclusions = readExclusions(file);
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    sink.add({ line: 1, code: 'file', message: e.message });
    return finish();
  }
  if (exclusions) {
    summary.excluded = 0;
    if (exclusions.stale) sink.add({ line: 1, code: 'exclusions-stale', message: exclusions.stale });
  }
  const maxRowBytes = maxRowBytesOf(opts);
  if (info.kind === 'txt') {
    await scanText(file, opts.tokens === false ? { ...opts, tokenizer: undefined } : opts, sink, summary, maxRowBytes);
    return finish();
  }

  const names = fieldNames(opts.columns);
  let format: RowFormat | undefined;
  let encoder: RowEncoder | undefined;
  let encoderProblem: string | undefined;
  const tokens = new TokenStats();
  let items = 0;
  let idsWithoutEos = 0;
  let firstIdsWithoutEos = 0;
  const eos = opts.tokenizer?.special.eos;
  try {
    for await (const item of readRecords(file, info, maxRowBytes)) {
      await checkpointRows(opts.signal, ++items, 'linting', file);
      if (item.kind === 'header') {
        try {
          format = detectCsvFormat(file, item.names, item.line, names);
        } catch (e) {
          if (!(e instanceof DatasetError)) throw e;
          const p = fileProblem(e, file);
          sink.add({ line: p.line, code: 'missing-field', message: p.message });
          return finish();
        }
        continue;
      }
      summary.rows++;
      if (exclusions?.lines.has(item.line)) {
        summary.excluded!++;
        continue;
      }
      if (item.kind === 'bad') {
        sink.add({ line: item.line, code: codeOfReason(item.reason), message: item.reason });
        continue;
      }
      format ??= detectFormat(item.value, names);
      if (format === undefined) {
        sink.add({ line: item.line, code: 'unknown-shape', message: unknownShapeReason(item.value, names) });
        continue;
      }
      let row: Row;
      try {
        row = toRow(format, item.value, names, opts.vocab);
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        sink.add({ line: item.line, code: codeOfReason(e.message), message: e.message });
        continue;
      }
      const h = rowHash(row);
      const first = hashes.get(h);
      if (first !== undefined) {
        summary.duplicates++;
        sink.add({
          line: item.line,
          code: 'duplicate',
          message: `exact duplicate of line ${first}: it is trained on twice as often as the other rows`,
          related: [{ file, line: first, message: 'first occurrence' }],
          fix: scan.lineRows ? { title: `Remove the duplicate row (line ${item.line})`, file, deleteLines: { from: item.line, to: item.line } } : undefined,
        });
      } else hashes.set(h, item.line);
      const leakLine = other?.hashes.get(h);
      if (other && leakLine !== undefined) {
        if (role === 'valid') {
          other.summary.leaked++;
          const base = path.basename(other.summary.file);
          sink.add({
            line: item.line,
            code: 'leak',
            message: `this validation row is also a training row (${base}:${leakLine}): the validation loss measures memorization on it`,
            related: [{ file: other.summary.file, line: leakLine, message: 'the same row in the training file' }],
            fix: scan.lineRows ? { title: `Remove the leaked row from ${path.basename(file)} (line ${item.line})`, file, deleteLines: { from: item.line, to: item.line } } : undefined,
          });
          other.sink.add({
            line: leakLine,
            code: 'leak',
            message: `this training row is also in the validation file (${path.basename(file)}:${item.line}): the validation loss measures memorization on it`,
            related: [{ file, line: item.line, message: 'the same row in the validation file' }],
          });
        }
      }
      if (row.format === 'input-ids' && eos !== undefined && row.ids[row.ids.length - 1] !== eos.id) {
        if (idsWithoutEos++ === 0) firstIdsWithoutEos = item.line;
      }
      if (row.format === 'messages') {
        row.messages.forEach((m, k) => {
          if (m.role === 'assistant' && m.content.trim() === '') {
            sink.add({ line: item.line, code: 'empty-assistant', message: `messages[${k}] is an assistant turn with empty content: it teaches only the end-of-turn tokens` });
          }
        });
      }
      if (row.format !== 'input-ids' && eos && eos.text && textOf(row).some((t) => t.trimEnd().endsWith(eos.text))) {
        sink.add({ line: item.line, code: 'eos-in-text', message: `the text ends with the EOS token ${JSON.stringify(eos.text)}, and LoRA Lab appends EOS itself: the row ends with EOS twice. Remove it from the data` });
      }
      if (encoderProblem !== undefined || opts.tokens === false) {
        summary.examples++;
        continue;
      }
      if (!encoder) {
        if (row.format !== 'input-ids' && !opts.tokenizer) {
          encoderProblem = opts.noTokenizerReason ?? 'no tokenizer';
          summary.examples++;
          continue;
        }
        try {
          encoder = new RowEncoder(opts.tokenizer, file, format, opts.maxSeqLen, opts.vocab);
        } catch (e) {
          if (!(e instanceof DatasetError)) throw e;
          const p = fileProblem(e, file);
          sink.add({ line: item.line, code: 'template', message: p.message });
          encoderProblem = p.message;
          continue;
        }
      }
      let a: RowAnalysis;
      try {
        a = encoder.analyze(row, item.line);
      } catch (e) {
        if (e instanceof DatasetError) {
          // The model folder is at fault (a tokenizer bigger than the model): said once, then no token checks.
          const p = fileProblem(e, file);
          sink.add({ line: p.line, code: 'out-of-vocab', message: p.message });
          encoderProblem = p.message;
          continue;
        }
        if (!(e instanceof RowError)) throw e;
        sink.add({ line: item.line, code: codeOfReason(e.message), message: e.message });
        continue;
      }
      tokens.add(a);
      if (a.problem) {
        sink.add({ line: item.line, code: codeOfReason(a.problem), message: a.problem });
        continue;
      }
      summary.examples++;
      if (a.total > a.kept) {
        const dropped = a.lossTotal - a.lossKept;
        sink.add({
          line: item.line,
          code: 'truncated',
          message: `${plural(a.total, 'token')}, over max_seq_len = ${opts.maxSeqLen}: the last ${plural(a.total - a.kept, 'token')} are cut${dropped > 0 ? `, ${plural(dropped, 'loss token')} of ${a.lossTotal.toLocaleString('en-US')} among them` : ' (none of them carries loss)'}`,
        });
      }
      if (row.format === 'messages' && a.rendered !== undefined) {
        row.messages.forEach((m, k) => {
          const content = m.content.trim();
          if (m.role === 'assistant' && content !== '' && !a.rendered!.includes(content)) {
            sink.add({ line: item.line, code: 'template-drops-content', message: `the chat template renders messages[${k}] (assistant) without its content: the model does not see or learn that text` });
          }
        });
      }
    }
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    const p = fileProblem(e, file);
    sink.add({ line: p.line, code: p.code, message: p.message });
  }
  summary.format = format;
  if (exclusions) {
    const n = summary.excluded ?? 0;
    sink.add({ line: 1, code: 'excluded', message: `${plural(n, 'row')} left out of training by ${path.basename(exclusions.file)} (${plural(exclusions.list.lines.length, 'listed line')})` });
  }
  if (summary.rows === 0 && sink.errors === 0) sink.add({ line: 1, code: 'file', message: `${path.basename(file)} has no data rows` });
  if (encoder || format === 'input-ids') summary.tokens = tokens.summary();
  if (idsWithoutEos > 0) {
    sink.add({
      line: firstIdsWithoutEos,
      code: 'ids-no-eos',
      message: `${plural(idsWithoutEos, 'input_ids row')} of ${summary.rows.toLocaleString('en-US')} (the first here) do not end with EOS (id ${eos!.id}): input_ids are trained as given, so the model does not learn to stop after them`,
    });
  }
  if (format && format !== 'input-ids' && opts.tokenizer && !eos) {
    sink.add({ line: 1, code: 'no-eos', message: `the tokenizer (${opts.tokenizer.source}) defines no EOS token: rows are not followed by an end marker, so the model does not learn where a completion ends` });
  }
  return finish();
}

/** The texts of a row that LoRA Lab follows with EOS. */
function textOf(row: Row): string[] {
  switch (row.format) {
    case 'text':
      return [row.text];
    case 'prompt-completion':
      return [row.completion];
    default:
      return [];
  }
}

async function scanText(file: string, opts: LintOptions, sink: Sink, summary: LintFileSummary, maxRowBytes: number): Promise<void> {
  summary.format = 'plain-text';
  try {
    let lines = 0;
    let last = '';
    for await (const chunk of readTextChunks(file, maxRowBytes)) {
      lines += chunk.text.split('\n').length - 1;
      last = chunk.text;
      await checkpointRows(opts.signal, lines, 'linting', file);
    }
    summary.rows = last.endsWith('\n') ? lines : lines + 1;
    if (!opts.tokenizer) return;
    const tokens = new TokenStats();
    let windows = 0;
    for await (const ex of plainTextExamples(file, opts.tokenizer, opts.maxSeqLen, maxRowBytes)) {
      windows++;
      const loss = ex.weights.reduce((s, w, t) => s + (t > 0 && w > 0 ? 1 : 0), 0);
      tokens.add({ total: ex.ids.length, kept: ex.ids.length, lossTotal: loss, lossKept: loss });
    }
    summary.examples = windows;
    summary.tokens = tokens.summary();
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    const p = fileProblem(e, file);
    sink.add({ line: p.line, code: p.code, message: p.message });
  }
}

function infoOf(scan: FileScan, maxSeqLen: number): string {
  const s = scan.summary;
  const parts = [`${plural(s.rows, 'row')}${s.format ? ` (${s.format})` : ''}, ${plural(s.examples, 'training example')}`];
  if (s.tokens) {
    const l = s.tokens.lengths;
    parts.push(`tokens per row p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, max ${l.max}`);
    parts.push(`${s.tokens.overMaxLen.toLocaleString('en-US')} over max_seq_len = ${maxSeqLen}`);
    const share = s.tokens.kept ? (100 * s.tokens.loss) / s.tokens.kept : 0;
    parts.push(`${share.toFixed(1)}% of the ${s.tokens.kept.toLocaleString('en-US')} trained tokens carry loss`);
  }
  if (s.duplicates) parts.push(plural(s.duplicates, 'duplicate'));
  return parts.join('; ');
}

/**
 * Lints a training file and its validation file (given, or the sibling training would use). All
 * problems, in file order per file; the summary counts every one even when the list is capped.
 */
export async function lintDataset(file: string, opts: LintOptions): Promise<LintReport> {
  const started = Date.now();
  const validFile = opts.validFile === false ? undefined : (opts.validFile ?? findSiblingValidFile(file));
  const train = await scanFile(file, opts, 'train');
  const scans = [train];
  if (validFile !== undefined && path.resolve(validFile) !== path.resolve(file)) scans.push(await scanFile(validFile, opts, 'valid', train));
  for (const s of scans) {
    s.summary.errors = s.sink.errors;
    s.summary.warnings = s.sink.warnings;
    if (s.summary.rows > 0) s.sink.add({ line: 1, code: 'summary', message: infoOf(s, opts.maxSeqLen) });
  }
  const diagnostics = scans.flatMap((s) => s.sink.kept.sort((a, b) => a.line - b.line));
  return {
    diagnostics,
    summary: {
      files: scans.map((s) => s.summary),
      maxSeqLen: opts.maxSeqLen,
      model: opts.model,
      skipped: opts.tokenizer && opts.tokens !== false ? undefined : `token-level checks (lengths, truncation, loss tokens, chat template): ${opts.noTokenizerReason ?? 'no tokenizer'}`,
      errors: scans.reduce((n, s) => n + s.sink.errors, 0),
      warnings: scans.reduce((n, s) => n + s.sink.warnings, 0),
      omitted: scans.reduce((n, s) => n + s.sink.omitted, 0),
      seconds: (Date.now() - started) / 1000,
    },
  };
}



const WARNING_LABELS: Partial<Record<LintCode, [one: string, many: string]>> = {
  'duplicate': ['exact duplicate row', 'exact duplicate rows'],
  'leak': ['row in both the training and the validation file', 'rows in both the training and the validation file'],
  'empty-assistant': ['empty assistant turn', 'empty assistant turns'],
  'template-drops-content': ['assistant turn the chat template drops', 'assistant turns the chat template drops'],
  'eos-in-text': ['row that already ends with the EOS text', 'rows that already end with the EOS text'],
  'truncated': ['row over max_seq_len', 'rows over max_seq_len'],
};

/**
 * The warnings of a report, one line per code: how many, and the first few places, for a run's
 * log and the narrator (the full list: `lora-lab lint` or the Problems panel).
 */
export function describeWarnings(report: LintReport, listed = 3): string[] {
  const byCode = new Map<LintCode, LintDiagnostic[]>();
  for (const d of report.diagnostics) {
    if (d.severity !== 'warning') continue;
    if (!byCode.has(d.code)) byCode.set(d.code, []);
    byCode.get(d.code)!.push(d);
  }
  const out: string[] = [];
  for (const [code, list] of byCode) {
    // The leak is listed in both files: count it once, by the validation file's side.
    const shown = code === 'leak' ? list.filter((d) => d.fix) : list;
    const n = code === 'leak' ? report.summary.files.reduce((k, f) => k + f.leaked, 0) : code === 'duplicate' ? report.summary.files.reduce((k, f) => k + f.duplicates, 0) : list.length;
    if (n === 0) continue;
    const [one, many] = WARNING_LABELS[code] ?? [code, code];
    const places = shown.slice(0, listed).map((d) => `${path.basename(d.file)}:${d.line} ${d.message}`);
    out.push(`dataset lint: ${n.toLocaleString('en-US')} ${n === 1 ? one : many}: ${places.join('; ')}${n > places.length ? '; …' : ''}`);
  }
  return out;
}
