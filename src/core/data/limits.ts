// Limits that every reader applies while it reads, before any row is parsed or tokenized: the
// byte cap of one row (a JSON Lines line, a .json array element, a CSV record, a .txt line) and
// strict UTF-8 over the whole file, each failing with the file and line at fault.
import { isUtf8 } from 'node:buffer';
import { DatasetError } from './errors';

/**
 * Default largest row, in bytes: 8 MiB. A long-context row of 1M tokens of English is about
 * 4 MB, so no real training row comes near it, and only max_seq_len tokens of a row are kept
 * anyway. Yet a row this size still tokenizes in seconds and in a few hundred MB of memory,
 * where an unbounded one (a file without line breaks, a runaway export) takes gigabytes and
 * minutes before truncation to max_seq_len throws almost all of it away.
 */
export const DEFAULT_MAX_ROW_BYTES = 8 * 1024 * 1024;

const MIB = 1024 * 1024;

/** "48 MB", "1.5 MB", "900 bytes" (MB = 2^20 bytes, as file sizes are usually shown). */
export function formatMB(bytes: number): string {
  const mb = bytes / MIB;
  if (mb >= 10) return `${Math.round(mb)} MB`;
  if (mb >= 0.1) return `${Number(mb.toFixed(1))} MB`;
  return `${bytes} bytes`;
}

/** The row cap of the options, checked (a positive integer), or the default. */
export function maxRowBytesOf(opts: { maxRowBytes?: number }): number {
  const n = opts.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  if (!Number.isInteger(n) || n < 1) throw new Error(`the row size limit (maxRowBytes) must be a positive integer number of bytes, got ${n}`);
  return n;
}

const RAISE_HINT = 'Split the row, or raise the limit with --max-row-bytes (setting loraLab.data.maxRowBytes) if it is meant.';

/** `file:line: row is N MB, over the M MB limit` and what to do. */
export function rowTooLong(file: string, line: number, bytes: number, limit: number, what = ''): DatasetError {
  return new DatasetError(file, `${file}:${line}: row is ${formatMB(bytes)}, over the ${formatMB(limit)} limit${what}. ${RAISE_HINT}`);
}

/** A CSV record over the limit: csv-parse stops there, so its true size is unknown. */
export function recordTooLong(file: string, line: number, limit: number, what: string): DatasetError {
  return new DatasetError(file, `${file}:${line}: row is over the ${formatMB(limit)} limit${what}. ${RAISE_HINT}`);
}

/** `file:line: invalid UTF-8 (byte 0x.. at byte offset N)` and what to do. */
export function invalidUtf8(file: string, line: number, byte: number, offset: number): DatasetError {
  const hex = byte.toString(16).padStart(2, '0');
  return new DatasetError(
    file,
    `${file}:${line}: invalid UTF-8 (byte 0x${hex} at byte offset ${offset}). The file is not UTF-8 from here on (text in another encoding such as Latin-1 or Windows-1252, or binary data): re-save it as UTF-8.`,
  );
}

/** Bytes a UTF-8 sequence with this lead byte has, or 0 for a byte that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * The first byte of `b` that is not well-formed UTF-8 (the start of the bad sequence), or -1.
 * With `final` false a sequence cut at the end is not an error (the next chunk completes it).
 * Same rules as TextDecoder's fatal mode: no overlong forms, surrogates or code points past U+10FFFF.
 */
export function firstInvalidUtf8(b: Uint8Array, final = true): number {
  let i = 0;
  const end = b.length;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = sequenceLength(c);
    if (n === 0) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k < n; k++) {
      if (i + k >= end) return final ? i : -1;
      const d = b[i + k];
      if (d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n;
  }
  return -1;
}

/** Where a multi-byte sequence cut by the end of `b` starts (b.length when none is cut). */
function completeEnd(b: Uint8Array): number {
  let j = b.length - 1;
  while (j >= 0 && j > b.length - 4 && (b[j] & 0xc0) === 0x80) j--;
  if (j < 0) return b.length;
  const n = sequenceLength(b[j]);
  return n > 1 && j + n > b.length ? j : b.length;
}

/**
 * Checks a file's bytes as they stream by, chunk after chunk, with sequences split across chunk
 * boundaries carried over. `push` returns the absolute offset of the first bad byte, or -1.
 */
export class Utf8Check {
  private carry: Uint8Array = new Uint8Array(0);
  private offset = 0;
  /** The value of the bad byte, once one is found. */
  badByte = 0;

  /** Bytes pushed so far. */
  get checked(): number {
    return this.offset;
  }

  /** Checks the next chunk. */
  push(chunk: Uint8Array): number {
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const start = this.offset - this.carry.length;
    this.offset += chunk.length;
    const end = completeEnd(bytes);
    const body = bytes.subarray(0, end);
    this.carry = Uint8Array.from(bytes.subarray(end));
    if (isUtf8(body)) return -1;
    const at = Math.max(0, firstInvalidUtf8(body));
    this.badByte = body[at];
    return start + at;
  }

  /** At the end of the file: a sequence still cut is an error. */
  end(): number {
    if (this.carry.length === 0) return -1;
    const at = Math.max(0, firstInvalidUtf8(this.carry, true));
    this.badByte = this.carry[at];
    return this.offset - this.carry.length + at;
  }
}

/** Line breaks (0x0a) in b[from, to). */
export function countLineBreaks(b: Uint8Array, from = 0, to = b.length): number {
  let n = 0;
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let k = buf.indexOf(0x0a, from); k !== -1 && k < to; k = buf.indexOf(0x0a, k + 1)) n++;
  return n;
}

/** Decodes bytes known to be UTF-8 (Buffer's decoder is the fastest; they are checked first). */
export function decodeChecked(file: string, b: Uint8Array, offset: number, line: number): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!isUtf8(buf)) {
    const bad = firstInvalidUtf8(buf);
    throw invalidUtf8(file, line + countLineBreaks(buf, 0, bad), buf[bad], offset + bad);
  }
  return buf.toString('utf8');
}
