// A file's lines, streamed as bytes: each line is cut at its line break, held only up to the row
// limit (a longer one is counted to its end, never kept, and refused), checked as UTF-8 and only
// then decoded. Memory stays within the row limit plus one read chunk, whatever the file holds.
import { createReadStream } from 'node:fs';
import { decodeChecked, rowTooLong } from './limits';

export interface TextLine {
  /** The line without its line break (and without a trailing CR, or the BOM on line 1). */
  text: string;
  /** 1-based. */
  line: number;
}

const READ_CHUNK = 1024 * 1024;

function isBom(b: Buffer): boolean {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}

/** Every line of the file, in order; throws DatasetError for a line over `maxRowBytes` or invalid UTF-8. */
export async function* readLines(file: string, maxRowBytes: number): AsyncGenerator<TextLine> {
  const stream = createReadStream(file, { highWaterMark: READ_CHUNK });
  let parts: Buffer[] = [];
  let size = 0; // bytes of the current line so far
  let lineStart = 0; // byte offset of the current line
  let offset = 0; // byte offset of the current chunk
  let line = 1;
  const finish = (): TextLine => {
    if (size > maxRowBytes) throw rowTooLong(file, line, size, maxRowBytes);
    let bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    let start = lineStart;
    if (line === 1 && isBom(bytes)) {
      bytes = bytes.subarray(3);
      start += 3;
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    return { text: decodeChecked(file, bytes, start, line), line };
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let from = 0;
      while (from <= chunk.length) {
        const nl = chunk.indexOf(0x0a, from);
        const to = nl === -1 ? chunk.length : nl;
        if (size + (to - from) <= maxRowBytes) parts.push(chunk.subarray(from, to));
        else parts = []; // over the limit: only counted from here on
        size += to - from;
        if (nl === -1) break;
        yield finish();
        line++;
        lineStart = offset + nl + 1;
        parts = [];
        size = 0;
        from = nl + 1;
      }
      offset += chunk.length;
    }
    if (size > 0) yield finish();
  } finally {
    stream.destroy();
  }
}
