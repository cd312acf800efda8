// Reads JSON datasets row by row: JSON Lines streamed line by line (any size), and a JSON array
// read whole (up to a limit) and split into its elements so each gets its own line number and a
// bad element is one bad row, not a failed file.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { DatasetError, messageOf } from './errors';
import { describeType, isPlainObject, type RawItem } from './records';

/**
 * Largest .json array read into memory. The text, its parsed objects and V8's string overhead
 * take several times the file size; beyond this JSON Lines (streamed) is the right format.
 */
export const MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024;

function parseRow(text: string, line: number, what: string): RawItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: 'bad', line, reason: `bad JSON (${messageOf(e)})` };
  }
  if (!isPlainObject(value)) return { kind: 'bad', line, reason: `wrong type: ${what} must be a JSON object, found ${describeType(value)}` };
  return { kind: 'row', line, value };
}

/** One object per line; blank lines are ignored. Streams, so file size is not limited. */
export async function* readJsonLines(file: string): AsyncGenerator<RawItem> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line++;
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (text.trim() === '') continue;
      yield parseRow(text, line, 'each line');
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** The elements of a top-level JSON array, each parsed on its own. */
export async function* readJsonArray(file: string, size: number): AsyncGenerator<RawItem> {
  if (size > MAX_JSON_ARRAY_BYTES) {
    const mb = (n: number) => `${Math.round(n / (1024 * 1024))} MB`;
    throw new DatasetError(
      file,
      `${file} is ${mb(size)}; a .json array is read whole and is limited to ${mb(MAX_JSON_ARRAY_BYTES)}. Convert it to JSON Lines (one object per line, streamed at any size), e.g. jq -c '.[]' ${file} > train.jsonl`,
    );
  }
  let text = await readFile(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  yield* new ArrayScanner(file, text).elements();
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/**
 * Finds the extent of each element of a JSON array by tracking strings and bracket depth, so that
 * JSON.parse sees one element at a time. Syntax errors inside an element are left to JSON.parse
 * (a bad row); only errors that lose track of where elements end stop the file.
 */
class ArrayScanner {
  private i = 0;
  private line = 1;

  constructor(
    private readonly file: string,
    private readonly text: string,
  ) {}

  *elements(): Generator<RawItem> {
    const { text } = this;
    this.skipSpace();
    if (text[this.i] !== '[') {
      const found = this.i >= text.length ? 'nothing' : JSON.stringify(text.slice(this.i, this.i + 20));
      this.fail(`a .json dataset must be an array of objects ([{...}, {...}]), but it starts with ${found}. For one object per line, name the file .jsonl`);
    }
    this.i++;
    for (;;) {
      this.skipSpace();
      if (this.i >= text.length) this.fail("the array is never closed (missing ']' at the end)");
      if (text[this.i] === ']') break; // also accepts a trailing comma, which is harmless
      const start = this.i;
      const startLine = this.line;
      this.skipValue(startLine);
      yield parseRow(text.slice(start, this.i), startLine, 'each array element');
      this.skipSpace();
      if (text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (text[this.i] === ']') break;
      this.fail(`expected ',' or ']' after the element that starts at line ${startLine}`);
    }
    this.i++;
    this.skipSpace();
    if (this.i < text.length) this.fail("unexpected text after the array's closing ']'");
  }

  private fail(what: string): never {
    throw new DatasetError(this.file, `${this.file}:${this.line}: ${what}. Fix the file's JSON (an editor's JSON validation shows where).`);
  }

  private skipSpace(): void {
    const { text } = this;
    while (this.i < text.length) {
      const c = text.charCodeAt(this.i);
      if (c === NEWLINE) this.line++;
      else if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return;
      this.i++;
    }
  }

  private skipString(startLine: number): void {
    const { text } = this;
    this.i++; // opening quote
    while (this.i < text.length) {
      const c = text.charCodeAt(this.i);
      if (c === BACKSLASH) this.i += 2;
      else if (c === QUOTE) {
        this.i++;
        return;
      } else {
        if (c === NEWLINE) this.line++;
        this.i++;
      }
    }
    this.fail(`a string in the element that starts at line ${startLine} is never closed (missing '"')`);
  }

  /** Moves past one element: a bracketed value up to its matching close, or a scalar. */
  private skipValue(startLine: number): void {
    const { text } = this;
    let depth = 0;
    while (this.i < text.length) {
      const ch = text[this.i];
      if (ch === '"') {
        this.skipString(startLine);
        if (depth === 0) return;
        continue;
      }
      if (depth === 0 && (ch === ',' || ch === ']' || /\s/.test(ch))) return; // end of a scalar
      if (ch === '\n') this.line++;
      if (ch === '{' || ch === '[') depth++;
      else if ((ch === '}' || ch === ']') && depth > 0) depth--;
      this.i++;
      if (depth === 0 && (ch === '}' || ch === ']')) return;
    }
    if (depth > 0) this.fail(`the element that starts at line ${startLine} is never closed (missing '}' or ']')`);
  }
}
