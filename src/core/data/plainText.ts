// .txt datasets: the file is streamed in chunks cut at line breaks, tokenized as one stream (BOS
// first, as the tokenizer adds it; EOS at the end of the file) and cut into consecutive windows
// of max_seq_len tokens, the way Hugging Face's run_clm groups texts. The bytes are checked as
// UTF-8 and each line's length against the row limit as they are read, before any tokenizing.
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { LoraTokenizer } from '../hf/tokenizer';
import { leadingSpecialIds } from './encode';
import { countLineBreaks, invalidUtf8, rowTooLong, Utf8Check } from './limits';
import type { Example } from './types';

/**
 * Text handed to the tokenizer at once: bounds the memory of one tokenizer call, and the lines
 * a window's reported line can be off by.
 */
const CHUNK_CHARS = 64 * 1024;

/** A chunk is cut anywhere once it reaches this size without a safe break (e.g. no line breaks). */
const MAX_CHUNK_CHARS = 1024 * 1024;

/**
 * Where a chunk may end: after a line break with no whitespace on either side of it. The
 * pre-tokenizers of byte-level BPE models (GPT-2, Llama 3, Qwen) never join such a line break
 * with what follows it, so tokenizing the chunks one by one gives the ids of the whole file.
 * (Exceptions, at most one token per chunk: a CRLF break under GPT-2's pattern, and tokenizers
 * that prepend a space to every input, like SentencePiece's Metaspace.)
 */
const SAFE_BREAK = /\S\r?\n(?=\S)/g;

export interface TextChunk {
  text: string;
  /** 1-based line the chunk starts on. */
  line: number;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let k = text.indexOf('\n'); k !== -1; k = text.indexOf('\n', k + 1)) n++;
  return n;
}

/** Where to end the next chunk of `buf`, or -1 to wait for more text. */
function findCut(buf: string): number {
  SAFE_BREAK.lastIndex = CHUNK_CHARS - 1;
  const m = SAFE_BREAK.exec(buf);
  if (m) return m.index + m[0].length;
  if (buf.length < MAX_CHUNK_CHARS) return -1;
  const nl = buf.lastIndexOf('\n', MAX_CHUNK_CHARS - 1);
  if (nl > 0) return nl + 1;
  const low = buf.charCodeAt(MAX_CHUNK_CHARS);
  // Never split a surrogate pair (an emoji) between chunks.
  return low >= 0xdc00 && low <= 0xdfff ? MAX_CHUNK_CHARS - 1 : MAX_CHUNK_CHARS;
}

/**
 * The file's text in chunks (BOM removed), streamed: the file is never held whole. A line is
 * passed on only once it is complete, so a line longer than `maxRowBytes` (a file without line
 * breaks is one) is refused before any of it is tokenized; it is counted to its end for the
 * message, never held. Throws DatasetError for that and for invalid UTF-8.
 */
export async function* readTextChunks(file: string, maxRowBytes: number): AsyncGenerator<TextChunk> {
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const utf8 = new Utf8Check();
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let line = 1;
  let first = true;
  // The line being read: its number, its bytes so far (held up to the limit), and whether it is over.
  let runLine = 1;
  let run = 0;
  let held: Buffer[] = [];
  let over = false;
  const release = (bytes: Buffer, startLine: number): string => {
    const bad = utf8.push(bytes);
    if (bad >= 0) throw invalidUtf8(file, startLine + countLineBreaks(bytes, 0, Math.max(0, bad - (utf8.checked - bytes.length))), utf8.badByte, bad);
    const piece = decoder.write(bytes);
    const text = first && piece.charCodeAt(0) === 0xfeff ? piece.slice(1) : piece;
    first = false;
    return text;
  };
  try {
    for await (const bytes of stream as AsyncIterable<Buffer>) {
      const heldLine = runLine;
      let lastBreak = -1;
      for (let from = 0; ; ) {
        const nl = bytes.indexOf(0x0a, from);
        run += (nl === -1 ? bytes.length : nl) - from;
        if (run > maxRowBytes) over = true;
        if (nl === -1) break;
        if (over) throw rowTooLong(file, runLine, run, maxRowBytes, ' (a line of a .txt file)');
        lastBreak = nl;
        runLine++;
        run = 0;
        from = nl + 1;
      }
      if (over) {
        held = []; // counted to its end, for the message
        continue;
      }
      if (lastBreak < 0) {
        held.push(bytes);
        continue;
      }
      const complete = Buffer.concat([...held, bytes.subarray(0, lastBreak + 1)]);
      held = [bytes.subarray(lastBreak + 1)];
      buf += release(complete, heldLine);
      while (buf.length >= CHUNK_CHARS) {
        const cut = findCut(buf);
        if (cut < 0) break;
        const text = buf.slice(0, cut);
        buf = buf.slice(cut);
        yield { text, line };
        line += countNewlines(text);
      }
    }
    if (over) throw rowTooLong(file, runLine, run, maxRowBytes, ' (a line of a .txt file)');
    buf += release(Buffer.concat(held), runLine);
    const bad = utf8.end();
    if (bad >= 0) throw invalidUtf8(file, runLine, utf8.badByte, bad);
    buf += decoder.end();
    if (buf.length > 0) yield { text: buf, line };
  } finally {
    stream.destroy();
  }
}

function windowExample(ids: number[], line: number): Example {
  const weights = ids.map(() => 1);
  weights[0] = 0;
  return { ids, weights, line, truncated: false };
}

/**
 * Consecutive, non-overlapping windows of maxSeqLen tokens over the whole file; the last, shorter
 * window is kept when it has at least 2 tokens (one prediction). Every window has loss on every
 * position but its first.
 */
export async function* plainTextExamples(file: string, tokenizer: LoraTokenizer, maxSeqLen: number, maxRowBytes: number): AsyncGenerator<Example> {
  let pending = leadingSpecialIds(tokenizer);
  // The line of pending[0]; each window's line is the line its first token is on, counted by the
  // line breaks in the text of the windows before it (a line break is one byte of its own, so a
  // window edge inside a multi-byte character does not change the count).
  let pendingLine = 1;
  const linesIn = (ids: number[]) => {
    const text = tokenizer.decode(ids, { skipSpecialTokens: false });
    let n = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
    return n;
  };
  for await (const chunk of readTextChunks(file, maxRowBytes)) {
    if (pending.length === 0) pendingLine = chunk.line;
    pending = pending.concat(tokenizer.encode(chunk.text, { addSpecialTokens: false }));
    let k = 0;
    for (; pending.length - k >= maxSeqLen; k += maxSeqLen) {
      const ids = pending.slice(k, k + maxSeqLen);
      yield windowExample(ids, pendingLine);
      pendingLine += linesIn(ids);
    }
    if (k > 0) pending = pending.slice(k);
  }
  // The end of the file is the end of a document: EOS teaches the model to stop there.
  const eos = tokenizer.special.eos?.id;
  if (eos !== undefined) pending.push(eos);
  for (let k = 0; k < pending.length; k += maxSeqLen) {
    const ids = pending.slice(k, k + maxSeqLen);
    if (ids.length >= 2) yield windowExample(ids, pendingLine);
    pendingLine += linesIn(ids);
  }
}
