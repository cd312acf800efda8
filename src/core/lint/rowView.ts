// One dataset row as the model sees it, for the editor's hover: the text after the chat template,
// each token with whether it carries loss and whether max_seq_len cuts it, and the problems
// training has with the row. The same readers, checks and encoder as training (RowEncoder.analyze).
import type { RowView } from '../../protocol/lint';
import type { LoraTokenizer } from '../hf/tokenizer';
import { RowEncoder } from '../data/encode';
import { DatasetError, RowError } from '../data/errors';
import { inspectFile } from '../data/files';
import { maxRowBytesOf } from '../data/limits';
import { readRecords } from '../data/load';
import type { RawItem } from '../data/records';
import { detectCsvFormat, detectFormat, fieldNames, toRow, unknownShapeReason, type RowFormat } from '../data/rows';
import type { LintOptions } from './lint';

/** Tokens shown at most (a hover is not the place for a 100k-token row; the counts stay exact). */
const MAX_SHOWN_TOKENS = 4096;

/**
 * The text of each token: the decoded text of the tokens up to it minus that of the tokens before,
 * over a short window so multi-byte characters split across tokens come out whole on the last one.
 */
export function tokenTexts(tokenizer: LoraTokenizer, ids: number[]): string[] {
  const out: string[] = [];
  const WINDOW = 6;
  for (let i = 0; i < ids.length; i++) {
    const from = Math.max(0, i - WINDOW);
    const before = tokenizer.decode(ids.slice(from, i), { skipSpecialTokens: false });
    const upTo = tokenizer.decode(ids.slice(from, i + 1), { skipSpecialTokens: false });
    out.push(upTo.startsWith(before) ? upTo.slice(before.length) : tokenizer.decode([ids[i]], { skipSpecialTokens: false }));
  }
  return out;
}

/** The record that holds `line` (the last one starting at or before it), and the line the next one starts on. */
async function findRecord(file: string, line: number, opts: LintOptions): Promise<{ item?: RawItem; header?: string[]; headerLine?: number; nextLine?: number }> {
  const info = await inspectFile(file);
  let header: string[] | undefined;
  let headerLine: number | undefined;
  let found: RawItem | undefined;
  for await (const item of readRecords(file, info, maxRowBytesOf(opts))) {
    if (item.kind === 'header') {
      header = item.names;
      headerLine = item.line;
      continue;
    }
    if (item.line > line) return { item: found, header, headerLine, nextLine: item.line };
    found = item;
  }
  return { item: found, header, headerLine };
}

/** The row at `line` of `file` (or `opts.text`, the line as the editor has it, for JSON Lines); null when there is no row there. */
export async function viewRow(file: string, line: number, opts: LintOptions & { text?: string }): Promise<RowView | null> {
  const names = fieldNames(opts.columns);
  const jsonLines = /\.(jsonl|ndjson)$/i.test(file);
  let item: RawItem | undefined;
  let format: RowFormat | undefined;
  let endLine = line;
  try {
    if (jsonLines && opts.text !== undefined) {
      if (opts.text.trim() === '') return null;
      try {
        const value: unknown = JSON.parse(opts.text);
        item = typeof value === 'object' && value !== null && !Array.isArray(value) ? { kind: 'row', line, value: value as Record<string, unknown> } : { kind: 'bad', line, reason: 'each line must be a JSON object' };
      } catch (e) {
        item = { kind: 'bad', line, reason: `bad JSON (${(e as Error).message})` };
      }
    } else {
      const r = await findRecord(file, line, opts);
      if (r.header && r.headerLine === line) return null;
      item = r.item;
      if (r.header) format = detectCsvFormat(file, r.header, r.headerLine ?? 1, names);
      if (item) endLine = Math.max(item.line, (r.nextLine ?? item.line + 1) - 1);
      if (item && item.line !== line && endLine < line) return null;
    }
  } catch (e) {
    if (e instanceof DatasetError) return { file, line, endLine: line, format: '', rendered: '', tokens: [], total: 0, maxSeqLen: opts.maxSeqLen, problems: [e.message] };
    throw e;
  }
  if (!item) return null;
  const base = { file, line: item.line, endLine, maxSeqLen: opts.maxSeqLen };
  if (item.kind === 'bad') return { ...base, format: '', rendered: '', tokens: [], total: 0, problems: [item.reason] };
  if (item.kind !== 'row') return null;
  format ??= detectFormat(item.value, names);
  if (!format) return { ...base, format: '', rendered: '', tokens: [], total: 0, problems: [unknownShapeReason(item.value, names)] };
  try {
    const row = toRow(format, item.value, names, opts.vocab);
    if (format !== 'input-ids' && !opts.tokenizer) return { ...base, format, rendered: '', tokens: [], total: 0, problems: [`cannot tokenize: ${opts.noTokenizerReason ?? 'no tokenizer'}`] };
    const encoder = new RowEncoder(opts.tokenizer, file, format, opts.maxSeqLen, opts.vocab);
    const a = encoder.analyze(row, item.line);
    const shown = a.ids.slice(0, MAX_SHOWN_TOKENS);
    const texts = opts.tokenizer ? tokenTexts(opts.tokenizer, shown) : shown.map((id) => `[${id}]`);
    const tokens = shown.map((_, t) => ({ text: texts[t], loss: a.weights[t] > 0 && t > 0, cut: t >= opts.maxSeqLen }));
    const rendered = a.rendered ?? texts.join('');
    return { ...base, format, rendered, tokens, total: a.total, problems: a.problem ? [a.problem] : [] };
  } catch (e) {
    if (e instanceof RowError || e instanceof DatasetError) return { ...base, format, rendered: '', tokens: [], total: 0, problems: [e.message] };
    throw e;
  }
}

