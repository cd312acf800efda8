// Reads CSV and TSV datasets with csv-parse, streamed: a header row, then one object per record
// (column name → cell). Quoted fields, embedded line breaks, a BOM and CRLF are csv-parse's job;
// line numbers are counted here, because csv-parse's own count is off after a quoted CRLF, and the
// bytes are checked as UTF-8 on their way to the parser (which would decode bad bytes as U+FFFD).
import { createReadStream } from 'node:fs';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { parse } from 'csv-parse';
import { DatasetError, messageOf } from './errors';
import { countLineBreaks, invalidUtf8, recordTooLong, Utf8Check } from './limits';
import type { RawItem } from './records';

/**
 * Counts line breaks by byte offset, so a record's first line can be found from csv-parse's byte
 * count, and checks the bytes as UTF-8 (stopping the stream at the first bad byte).
 */
class NewlineTracker extends Transform {
  private seen = 0;
  private pending: number[] = [];
  private head = 0;
  private counted = 0;
  private readonly utf8 = new Utf8Check();
  /** The invalid-UTF-8 error that stopped the stream, if any. */
  failure?: DatasetError;

  constructor(private readonly file: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const bad = this.utf8.push(chunk);
    if (bad >= 0) return this.stop(bad, chunk, done);
    for (let k = chunk.indexOf(0x0a); k !== -1; k = chunk.indexOf(0x0a, k + 1)) this.pending.push(this.seen + k);
    this.seen += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const bad = this.utf8.end();
    if (bad >= 0) return this.stop(bad, Buffer.alloc(0), done);
    done();
  }

  private stop(bad: number, chunk: Buffer, done: TransformCallback): void {
    // The bad byte is in this chunk, or in the (at most 3) bytes carried over from the last one.
    const at = Math.max(0, bad - this.seen);
    const line = this.pending.length - this.head + this.counted + countLineBreaks(chunk, 0, at) + 1;
    this.failure = invalidUtf8(this.file, line, this.utf8.badByte, bad);
    done(this.failure);
  }

  /** Line breaks before a byte offset (offsets must not decrease between calls). */
  linesBefore(offset: number): number {
    while (this.head < this.pending.length && this.pending[this.head] < offset) {
      this.head++;
      this.counted++;
    }
    if (this.head > 4096) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return this.counted;
  }
}

interface ParsedRecord {
  record: string[];
  info: { bytes: number; empty_lines: number };
}

const QUOTING_ADVICE =
  'A field that contains a quote, the delimiter or a line break must be wrapped in double quotes, with quotes inside it doubled ("").';

/**
 * The header and records of a CSV/TSV file. A record is held up to `maxRowBytes` (csv-parse's
 * max_record_size), so an unbalanced quote, which swallows the rest of the file into one field,
 * fails in bounded memory.
 */
export async function* readCsv(file: string, delimiter: ',' | '\t', maxRowBytes: number): AsyncGenerator<RawItem> {
  const tracker = new NewlineTracker(file);
  const parser = parse({
    delimiter,
    bom: true,
    info: true,
    skip_empty_lines: true,
    relax_column_count: true,
    // TSV writers rarely quote, so a quote inside a tab-separated field is kept as text.
    relax_quotes: delimiter === '\t',
    max_record_size: maxRowBytes,
  });
  pipeline(createReadStream(file), tracker, parser, () => {
    // Errors surface through the parser's iterator below.
  });
  const name = delimiter === ',' ? 'CSV' : 'TSV';
  let header: string[] | undefined;
  let prevEnd = 0;
  let prevEmpty = 0;
  const startLine = (emptyLines: number): number => tracker.linesBefore(prevEnd) + 1 + (emptyLines - prevEmpty);
  try {
    for await (const item of parser as AsyncIterable<ParsedRecord>) {
      const { record, info } = item;
      const line = startLine(info.empty_lines);
      prevEnd = info.bytes;
      prevEmpty = info.empty_lines;
      if (record.every((cell) => cell.trim() === '')) continue; // a line of spaces / delimiters only
      if (header === undefined) {
        header = record.map((h) => h.trim());
        yield { kind: 'header', line, names: header };
        continue;
      }
      const extra = record.slice(header.length);
      if (record.length < header.length || extra.some((cell) => cell.trim() !== '')) {
        yield {
          kind: 'bad',
          line,
          reason: `has ${record.length} fields but the header has ${header.length}. ${QUOTING_ADVICE}`,
        };
        continue;
      }
      const value: Record<string, unknown> = {};
      header.forEach((h, k) => {
        if (!(h in value)) value[h] = record[k];
      });
      yield { kind: 'row', line, value };
    }
    if (tracker.failure) throw tracker.failure;
  } catch (e) {
    if (tracker.failure) throw tracker.failure;
    if (e instanceof DatasetError) throw e;
    const { code = '', bytes } = e as { code?: string; bytes?: number };
    // csv-parse's `bytes` on an error is where the failing record starts.
    const line = tracker.linesBefore(typeof bytes === 'number' && bytes >= prevEnd ? bytes : prevEnd) + 1;
    if (code === 'CSV_MAX_RECORD_SIZE') {
      throw recordTooLong(file, line, maxRowBytes, ` (a ${name} record this long usually means an unclosed quote: ${QUOTING_ADVICE})`);
    }
    if (code.startsWith('CSV_') || code.startsWith('INVALID_')) {
      // csv-parse's own "at line N" counts differently (an unclosed quote: the end of the file); the line named is the record's.
      const detail = messageOf(e).replace(/,?\s*(at|on) line \d+/gi, '').replace(/:\s*$/, '');
      throw new DatasetError(file, `${file}:${line}: ${name} syntax error in the record starting here (${detail}). ${QUOTING_ADVICE}`);
    }
    throw new DatasetError(file, `Cannot read ${file}: ${messageOf(e)}.`);
  } finally {
    parser.destroy();
  }
}
