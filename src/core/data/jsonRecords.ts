// Reads JSON datasets row by row, streamed: JSON Lines line by line, and a JSON array split into
// its elements as the bytes go by, so each element gets its own line number, a bad element is one
// bad row (not a failed file), and neither the file nor a row longer than the row limit is ever
// held whole. Every row is checked as UTF-8 before it is decoded.
import { createReadStream } from 'node:fs';
import { DatasetError, messageOf } from './errors';
import { decodeChecked, rowTooLong } from './limits';
import { readLines } from './lines';
import { describeType, isPlainObject, type RawItem } from './records';

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

/** One object per line; blank lines are ignored. Streams, so file size is not limited (rows are). */
export async function* readJsonLines(file: string, maxRowBytes: number): AsyncGenerator<RawItem> {
  for await (const { text, line } of readLines(file, maxRowBytes)) {
    if (text.trim() === '') continue;
    yield parseRow(text, line, 'each line');
  }
}


/** Bytes read at a time. */
const READ_CHUNK = 1024 * 1024;

/** The elements of a top-level JSON array, each parsed on its own, as the file streams by. */
export async function* readJsonArray(file: string, maxRowBytes: number): AsyncGenerator<RawItem> {
  const scanner = new ArrayScanner(file, maxRowBytes);
  const stream = createReadStream(file, { highWaterMark: READ_CHUNK });
  try {
    const out: RawItem[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const failure = scanner.push(chunk, out);
      yield* out.splice(0);
      if (failure) throw failure;
    }
    const failure = scanner.end(out);
    yield* out.splice(0);
    if (failure) throw failure;
  } finally {
    stream.destroy();
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;

const isSpace = (c: number): boolean => c === 0x20 || c === NEWLINE || c === 0x0d || c === 0x09;

/**
 * Finds the extent of each element of a JSON array by tracking strings and bracket depth over the
 * bytes (JSON's structure is ASCII, which never occurs inside a multi-byte UTF-8 sequence), so
 * that JSON.parse sees one element at a time. An element is held only up to the row limit.
 * Syntax errors inside an element are left to JSON.parse (a bad row); only errors that lose track
 * of where elements end stop the file.
 */
class ArrayScanner {
  private state: 'start' | 'value' | 'element' | 'after' | 'end' = 'start';
  private line = 1;
  /** Byte offset of the chunk being scanned. */
  private offset = 0;
  // The element being scanned.
  private startLine = 0;
  private startOffset = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private size = 0;
  private parts: Buffer[] = [];

  constructor(
    private readonly file: string,
    private readonly maxRowBytes: number,
  ) {}

  /** Scans the next chunk, adding the elements it completes to `out`; returns the error that stops the file, if any. */
  push(chunk: Buffer, out: RawItem[]): DatasetError | undefined {
    try {
      this.scan(chunk, out);
      return undefined;
    } catch (e) {
      if (e instanceof DatasetError) return e;
      throw e;
    } finally {
      this.offset += chunk.length;
    }
  }

  /** At the end of the file: the last element, and whether the array was closed. */
  end(out: RawItem[]): DatasetError | undefined {
    try {
      switch (this.state) {
        case 'start':
          this.fail('a .json dataset must be an array of objects ([{...}, {...}]), but it starts with nothing. For one object per line, name the file .jsonl');
          break;
        case 'value':
          this.fail("the array is never closed (missing ']' at the end)");
          break;
        case 'element':
          if (this.inString) this.fail(`a string in the element that starts at line ${this.startLine} is never closed (missing '"')`);
          if (this.depth > 0) this.fail(`the element that starts at line ${this.startLine} is never closed (missing '}' or ']')`);
          out.push(this.finishElement());
          this.fail(`expected ',' or ']' after the element that starts at line ${this.startLine}`);
          break;
        case 'after':
          this.fail(`expected ',' or ']' after the element that starts at line ${this.startLine}`);
          break;
        default:
      }
      return undefined;
    } catch (e) {
      if (e instanceof DatasetError) return e;
      throw e;
    }
  }

  private scan(chunk: Buffer, out: RawItem[]): void {
    let i = 0;
    if (this.offset === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3; // BOM
    let elementFrom = this.state === 'element' ? 0 : -1;
    while (i < chunk.length) {
      const c = chunk[i];
      if (this.state === 'element') {
        const ends = this.step(c);
        if (ends === 'before') {
          this.collect(chunk, elementFrom, i);
          out.push(this.finishElement());
          elementFrom = -1;
          continue; // the byte is looked at again after the element
        }
        i++;
        if (ends === 'after') {
          this.collect(chunk, elementFrom, i);
          out.push(this.finishElement());
          elementFrom = -1;
        }
        continue;
      }
      if (isSpace(c)) {
        if (c === NEWLINE) this.line++;
        i++;
        continue;
      }
      switch (this.state) {
        case 'start':
          if (c !== OPEN_SQUARE) {
            const found = JSON.stringify(chunk.subarray(i, i + 20).toString('utf8'));
            this.fail(`a .json dataset must be an array of objects ([{...}, {...}]), but it starts with ${found}. For one object per line, name the file .jsonl`);
          }
          this.state = 'value';
          i++;
          break;
        case 'value':
          if (c === CLOSE_SQUARE) {
            this.state = 'end'; // also accepts a trailing comma, which is harmless
            i++;
            break;
          }
          this.state = 'element';
          this.startLine = this.line;
          this.startOffset = this.offset + i;
          this.depth = 0;
          this.size = 0;
          this.parts = [];
          elementFrom = i;
          break;
        case 'after':
          if (c === COMMA) this.state = 'value';
          else if (c === CLOSE_SQUARE) this.state = 'end';
          else this.fail(`expected ',' or ']' after the element that starts at line ${this.startLine}`);
          i++;
          break;
        default:
          this.fail("unexpected text after the array's closing ']'");
      }
    }
    if (this.state === 'element') this.collect(chunk, elementFrom, chunk.length);
  }

  /** One byte of an element: whether the element ends before it, after it, or goes on. */
  private step(c: number): 'before' | 'after' | undefined {
    if (c === NEWLINE) this.line++;
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (c === BACKSLASH) this.escaped = true;
      else if (c === QUOTE) {
        this.inString = false;
        if (this.depth === 0) return 'after';
      }
      return undefined;
    }
    if (c === QUOTE) {
      this.inString = true;
      return undefined;
    }
    if (this.depth === 0 && (c === COMMA || c === CLOSE_SQUARE || isSpace(c))) {
      if (c === NEWLINE) this.line--; // looked at again after the element
      return 'before'; // the end of a scalar
    }
    if (c === OPEN_CURLY || c === OPEN_SQUARE) this.depth++;
    else if (c === CLOSE_CURLY || c === CLOSE_SQUARE) {
      if (this.depth > 0) this.depth--;
      if (this.depth === 0) return 'after';
    }
    return undefined;
  }

  /** Keeps chunk[from, to) of the element, while it is within the row limit. */
  private collect(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.size += to - from;
    if (this.size <= this.maxRowBytes) this.parts.push(chunk.subarray(from, to));
    else this.parts = []; // over the limit: only counted from here on
  }

  private finishElement(): RawItem {
    this.state = 'after';
    if (this.size > this.maxRowBytes) throw rowTooLong(this.file, this.startLine, this.size, this.maxRowBytes);
    const bytes = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    const text = decodeChecked(this.file, bytes, this.startOffset, this.startLine);
    return parseRow(text, this.startLine, 'each array element');
  }

  private fail(what: string): never {
    throw new DatasetError(this.file, `${this.file}:${this.line}: ${what}. Fix the file's JSON (an editor's JSON validation shows where).`);
  }
}
