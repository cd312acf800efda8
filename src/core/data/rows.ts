// Row formats: detects a file's format from its first readable row (or its CSV header) and checks
// each row against it, turning a raw object into a typed Row or a RowError with the reason.
// Needs no tokenizer, so the whole structural check runs before a model is loaded.
import { DatasetError, RowError } from './errors';
import { describeType, isPlainObject } from './records';
import type { ColumnNames, DatasetFormat } from './types';
import { vocabRange, type Vocabulary } from './vocabulary';

/** Formats made of rows (every format but plain text). */
export type RowFormat = Exclude<DatasetFormat, 'plain-text'>;

export const CHAT_ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

/** A chat message; keys other than role and content (tool_calls, name, …) go to the template as they are. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  [key: string]: unknown;
}

export type Row =
  | { format: 'text'; text: string }
  | { format: 'prompt-completion'; prompt: string; completion: string }
  | { format: 'messages'; messages: ChatMessage[] }
  | { format: 'input-ids'; ids: number[] };

/** Field / column names in effect (the defaults are the formats' own names). */
export interface FieldNames {
  text: string;
  prompt: string;
  completion: string;
}

export function fieldNames(columns: ColumnNames = {}): FieldNames {
  return { text: columns.text ?? 'text', prompt: columns.prompt ?? 'prompt', completion: columns.completion ?? 'completion' };
}

const MESSAGES = 'messages';
const INPUT_IDS = 'input_ids';

/**
 * The format a JSON row is written in, or undefined when it has none of the formats' fields.
 * Checked in this order, so a row with both "messages" and "text" is a messages row.
 */
export function detectFormat(value: Record<string, unknown>, names: FieldNames): RowFormat | undefined {
  if (MESSAGES in value) return 'messages';
  if (INPUT_IDS in value) return 'input-ids';
  if (names.prompt in value || names.completion in value) return 'prompt-completion';
  if (names.text in value) return 'text';
  return undefined;
}

/** What a row without any known field is told. */
export function unknownShapeReason(value: Record<string, unknown>, names: FieldNames): string {
  const keys = Object.keys(value).slice(0, 8).map((k) => JSON.stringify(k));
  return `none of the dataset fields: expected "${names.text}", "${names.prompt}"+"${names.completion}", "${MESSAGES}" or "${INPUT_IDS}", found ${keys.length > 0 ? keys.join(', ') : 'an empty object'}`;
}

/** The format of a CSV/TSV file from its header row. */
export function detectCsvFormat(file: string, header: string[], line: number, names: FieldNames): RowFormat {
  const has = (c: string) => header.includes(c);
  if (has(names.prompt) && has(names.completion)) return 'prompt-completion';
  if (has(names.prompt) || has(names.completion)) {
    const missing = has(names.prompt) ? names.completion : names.prompt;
    throw new DatasetError(file, `${file}:${line}: the header has no "${missing}" column to go with "${has(names.prompt) ? names.prompt : names.completion}". Add the column, or map another one with the columns option.`);
  }
  if (has(names.text)) return 'text';
  const shown = header.slice(0, 10).map((h) => JSON.stringify(h)).join(', ');
  throw new DatasetError(
    file,
    `${file}:${line}: the header row (${shown}) has no "${names.text}" column and no "${names.prompt}"/"${names.completion}" columns. The first row must name the columns; use the columns option to map other names (e.g. columns: { text: "content" }).`,
  );
}

function requireString(value: Record<string, unknown>, field: string): string {
  if (!(field in value)) throw new RowError(`missing field "${field}"`);
  const v = value[field];
  if (typeof v !== 'string') throw new RowError(`wrong type: "${field}" must be a string, found ${describeType(v)}`);
  if (v.trim() === '') throw new RowError(`empty "${field}"`);
  return v;
}

/** Checks a raw row against the file's format; throws RowError with the reason. */
export function toRow(format: RowFormat, value: Record<string, unknown>, names: FieldNames, vocab?: Vocabulary): Row {
  switch (format) {
    case 'text':
      return { format, text: requireString(value, names.text) };
    case 'prompt-completion':
      return { format, prompt: requireString(value, names.prompt), completion: requireString(value, names.completion) };
    case 'messages':
      return { format, messages: toMessages(value) };
    case 'input-ids':
      return { format, ids: toIds(value, vocab) };
  }
}

function toMessages(value: Record<string, unknown>): ChatMessage[] {
  if (!(MESSAGES in value)) throw new RowError(`missing field "${MESSAGES}"`);
  const list = value[MESSAGES];
  if (!Array.isArray(list)) throw new RowError(`wrong type: "${MESSAGES}" must be an array of {"role", "content"} objects, found ${describeType(list)}`);
  if (list.length === 0) throw new RowError(`empty "${MESSAGES}"`);
  const out: ChatMessage[] = [];
  list.forEach((m: unknown, k) => {
    if (!isPlainObject(m)) throw new RowError(`wrong type: messages[${k}] must be an object with "role" and "content", found ${describeType(m)}`);
    const { role, content } = m;
    if (typeof role !== 'string') throw new RowError(`wrong type: messages[${k}].role must be a string, found ${describeType(role)}`);
    if (!(CHAT_ROLES as readonly string[]).includes(role)) {
      throw new RowError(`messages[${k}].role is ${JSON.stringify(role)}; roles must be one of ${CHAT_ROLES.join(', ')}`);
    }
    if (typeof content !== 'string') throw new RowError(`wrong type: messages[${k}].content must be a string, found ${describeType(content)}`);
    out.push({ ...m, role: role as ChatRole, content });
  });
  if (!out.some((m) => m.role === 'assistant')) {
    throw new RowError('no assistant message: the loss is on assistant turns only, so this conversation teaches nothing');
  }
  return out;
}

function toIds(value: Record<string, unknown>, vocab?: Vocabulary): number[] {
  if (!(INPUT_IDS in value)) throw new RowError(`missing field "${INPUT_IDS}"`);
  const ids = value[INPUT_IDS];
  if (!Array.isArray(ids)) throw new RowError(`wrong type: "${INPUT_IDS}" must be an array of token ids, found ${describeType(ids)}`);
  if (ids.length === 0) throw new RowError(`empty "${INPUT_IDS}"`);
  for (let k = 0; k < ids.length; k++) {
    const id: unknown = ids[k];
    if (typeof id !== 'number' || !Number.isInteger(id)) {
      throw new RowError(`wrong type: input_ids[${k}] is ${JSON.stringify(id)}; token ids are whole numbers${vocab ? ` in ${vocabRange(vocab)}` : ' ≥ 0'}`);
    }
    if (vocab !== undefined && (id < 0 || id >= vocab.size)) {
      throw new RowError(`input_ids[${k}] = ${id} is outside the vocabulary (${vocabRange(vocab)}); the ids come from another tokenizer`);
    }
    if (id < 0) throw new RowError(`input_ids[${k}] = ${id} is negative; token ids are whole numbers ≥ 0`);
  }
  if (ids.length < 2) throw new RowError(`"${INPUT_IDS}" has 1 token; an example needs at least 2 (each token is predicted from the ones before it)`);
  return ids as number[];
}
