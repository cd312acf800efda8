// Reading one dataset file: the structural check (no tokenizer: format, row problems, policy) and
// the full load (rows → token ids and loss weights), with the report of what was read.
import type { LoraTokenizer } from '../hf/tokenizer';
import { CancelledError, checkpointRows, yieldToEventLoop } from './cancel';
import { RowEncoder, missingTokenizerError } from './encode';
import { DatasetError, ProblemLog, RowError } from './errors';
import { readExclusions, type Exclusions } from './exclusions';
import { inspectFile, type FileInfo } from './files';
import { maxRowBytesOf } from './limits';
import { readCsv } from './csvRecords';
import { readJsonArray, readJsonLines } from './jsonRecords';
import { plainTextExamples, readTextChunks } from './plainText';
import type { RawItem } from './records';
import { vocabularyOf } from './vocabulary';
import { detectCsvFormat, detectFormat, fieldNames, toRow, unknownShapeReason, type Row, type RowFormat } from './rows';
import type { CheckOptions, DataOptions, DatasetFormat, DatasetReport, Example, RowProblem } from './types';

export interface CheckResult {
  file: string;
  format: DatasetFormat;
  /** Rows that passed the structural check (for plain text: lines). */
  rows: number;
  /** Rows with a problem (all of them, though `problems` is capped). */
  skipped: number;
  problems: RowProblem[];
}

/** The rows of a .jsonl/.json/.csv/.tsv file, streamed, each within the row limit. */
export function readRecords(file: string, info: FileInfo, maxRowBytes: number): AsyncGenerator<RawItem> {
  switch (info.kind) {
    case 'json':
      // A .json file that starts with an object rather than an array is read as JSON Lines,
      // which is how many tools write "json" datasets (Hugging Face datasets reads both).
      return info.head.trimStart().startsWith('{') ? readJsonLines(file, maxRowBytes) : readJsonArray(file, maxRowBytes);
    case 'csv':
      return readCsv(file, ',', maxRowBytes);
    case 'tsv':
      return readCsv(file, '\t', maxRowBytes);
    default:
      return readJsonLines(file, maxRowBytes);
  }
}

/**
 * Reads every row of a record file, detecting the format on the way, logging row problems, and
 * handing each valid row to `onRow` (which may throw RowError for problems found later).
 */
async function scanRows(
  file: string,
  info: FileInfo,
  opts: CheckOptions,
  log: ProblemLog,
  onRow: (row: Row, line: number, format: RowFormat) => void,
  stage: string,
  excluded?: { lines: ReadonlySet<number>; count: number },
): Promise<{ format: RowFormat; rows: number }> {
  const names = fieldNames(opts.columns);
  let format: RowFormat | undefined;
  let rows = 0;
  let sawHeader = false;
  let items = 0;
  for await (const item of readRecords(file, info, maxRowBytesOf(opts))) {
    await checkpointRows(opts.signal, ++items, stage, file);
    if (item.kind === 'header') {
      format = detectCsvFormat(file, item.names, item.line, names);
      sawHeader = true;
      continue;
    }
    log.seen++;
    // A row on the exclusion list is left out before it is checked (exclusions.ts).
    if (excluded?.lines.has(item.line)) {
      excluded.count++;
      continue;
    }
    if (item.kind === 'bad') {
      log.add(item.line, item.reason);
      continue;
    }
    format ??= detectFormat(item.value, names);
    if (format === undefined) {
      log.add(item.line, unknownShapeReason(item.value, names));
      continue;
    }
    try {
      const row = toRow(format, item.value, names, vocabularyOf(opts));
      rows++;
      onRow(row, item.line, format);
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      log.add(item.line, e.message);
    }
  }
  log.enforce();
  if (rows === 0 && log.total > 0) throw new DatasetError(file, `No row of ${file} is usable.\n${log.describe()}`, log.kept, log.total);
  if (format === undefined) throw new DatasetError(file, `${file} has no rows. Add rows, or point to another file.`);
  if (rows === 0) {
    const what = sawHeader ? 'has a header row but no data rows' : 'has no rows';
    throw new DatasetError(file, `${file} ${what}. Add rows, or point to another file.`);
  }
  return { format, rows };
}

function policyOf(opts: CheckOptions): CheckOptions['policy'] {
  const policy = opts.policy ?? 'fail';
  if (policy !== 'skip' && policy !== 'fail') throw new Error(`bad-row policy must be 'skip' or 'fail', got ${JSON.stringify(policy)}`);
  return policy;
}

/**
 * The structural pass: the file exists, is of a supported kind, and its rows have the fields and
 * types of one format. No tokenizer and no model, so run it before loading either. Throws
 * DatasetError for unusable files, and for row problems under policy 'fail' (the default).
 */
export async function checkDatasetFile(file: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const log = new ProblemLog(file, policyOf(opts));
  const info = await inspectFile(file);
  if (info.kind === 'txt') {
    let lines = 0;
    let last = '';
    for await (const chunk of readTextChunks(file, maxRowBytesOf(opts))) {
      if (opts.signal) {
        await yieldToEventLoop();
        if (opts.signal.aborted) throw new CancelledError('checking', file, lines);
      }
      lines += chunk.text.split('\n').length - 1;
      last = chunk.text;
    }
    // A last line without a line break at its end still counts.
    return { file, format: 'plain-text', rows: last.endsWith('\n') ? lines : lines + 1, skipped: 0, problems: [] };
  }
  const { format, rows } = await scanRows(file, info, opts, log, () => {}, 'checking', exclusionsOf(file, opts));
  return { file, format, rows, skipped: log.total, problems: log.kept };
}

/** The rows a dataset's exclusion list leaves out, counted as they are met (none with ignoreExclusions). */
function exclusionsOf(file: string, opts: CheckOptions): { lines: ReadonlySet<number>; count: number; list: Exclusions } | undefined {
  if (opts.ignoreExclusions) return undefined;
  const list = readExclusions(file);
  return list ? { lines: list.lines, count: 0, list } : undefined;
}

export function checkMaxSeqLen(maxSeqLen: number): void {
  if (!Number.isInteger(maxSeqLen) || maxSeqLen < 2) {
    throw new Error(`max_seq_len must be an integer of at least 2 (an example needs one token to predict another), got ${maxSeqLen}`);
  }
}

/** Counts of a set of examples, for a report. */
export function summarize(examples: Example[]): Pick<DatasetReport, 'examples' | 'tokens' | 'lossTokens' | 'truncated'> {
  let tokens = 0;
  let lossTokens = 0;
  let truncated = 0;
  for (const ex of examples) {
    tokens += ex.ids.length;
    for (let t = 1; t < ex.weights.length; t++) if (ex.weights[t] > 0) lossTokens++;
    if (ex.truncated) truncated++;
  }
  return { examples: examples.length, tokens, lossTokens, truncated };
}

/**
 * Reads, checks and tokenizes one dataset file. The tokenizer is needed by every format but
 * input_ids. Throws DatasetError for unusable files, for row problems under policy 'fail' (after
 * reading the whole file, so the error gives the total), and when no example is left.
 */
export async function loadExamples(
  file: string,
  tokenizer: LoraTokenizer | undefined,
  opts: DataOptions,
): Promise<{ examples: Example[]; report: DatasetReport }> {
  checkMaxSeqLen(opts.maxSeqLen);
  const log = new ProblemLog(file, policyOf(opts));
  const info = await inspectFile(file);
  const examples: Example[] = [];
  const excluded = exclusionsOf(file, opts);
  let format: DatasetFormat;
  if (info.kind === 'txt') {
    if (tokenizer === undefined) throw missingTokenizerError(file, 'plain-text');
    format = 'plain-text';
    for await (const ex of plainTextExamples(file, tokenizer, opts.maxSeqLen, maxRowBytesOf(opts))) {
      // A .txt window is left out by the line it starts on.
      if (excluded?.lines.has(ex.line)) {
        excluded.count++;
        continue;
      }
      examples.push(ex);
      // Windows of a .txt file, not rows (a window is up to max_seq_len tokens: check more often).
      if (opts.signal && examples.length % 256 === 0) {
        await yieldToEventLoop();
        if (opts.signal.aborted) throw new CancelledError('tokenizing', file);
      }
    }
  } else {
    let encoder: RowEncoder | undefined;
    ({ format } = await scanRows(file, info, opts, log, (row, line, rowFormat) => {
      encoder ??= new RowEncoder(tokenizer, file, rowFormat, opts.maxSeqLen, vocabularyOf(opts));
      const example = encoder.encode(row, line);
      // Under 'fail' the dataset is refused after the scan: the rest is encoded only to count and
      // list its problems (a long row costs max_seq_len tokens, see encodeBounded), not kept.
      if (!log.failing) examples.push(example);
    }, 'tokenizing', excluded));
  }
  if (examples.length === 0) {
    const why = log.total > 0 ? `\n${log.describe()}` : excluded?.count ? ` ${excluded.count} row${excluded.count === 1 ? ' is' : 's are'} on its exclusion list ${excluded.list.file}.` : '';
    throw new DatasetError(file, `${file} gives no training examples: every row was dropped.${why}`, log.kept, log.total);
  }
  const report: DatasetReport = { file, format, ...summarize(examples), skipped: log.total, problems: log.kept };
  if (excluded) report.excluded = { file: excluded.list.file, rows: excluded.count, lines: excluded.list.list.lines, ...(excluded.list.stale ? { stale: excluded.list.stale } : {}) };
  return { examples, report };
}
