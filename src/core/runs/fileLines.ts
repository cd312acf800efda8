// Given lines of a text file, streamed: the text of lines by 1-based number, numbered as the
// dataset readers number them (a line ends at \n; a \r before it and a BOM at the start are
// dropped), reading no further than the last line asked for. For showing the rows a step trained
// on (`lora-lab examples`, the panel's example lists) without holding the file.
import * as fs from 'node:fs';

/** The text of each wanted line that exists (a line past the end of the file is absent); each is cut to `maxChars`. */
export async function readFileLines(file: string, wanted: Iterable<number>, maxChars = 1000): Promise<Map<number, string>> {
  const want = new Set([...wanted].filter((n) => Number.isInteger(n) && n >= 1));
  const out = new Map<number, string>();
  if (want.size === 0) return out;
  const last = Math.max(...want);
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 16 });
  let line = 1;
  // The bytes of the current line, when it is wanted (held up to a bound: enough for maxChars).
  let held: Buffer[] = [];
  let heldBytes = 0;
  const limit = maxChars * 4 + 4;
  const finish = (): void => {
    if (want.has(line)) {
      let text = Buffer.concat(held).toString('utf8');
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
      out.set(line, text.length > maxChars ? text.slice(0, maxChars) : text);
    }
    held = [];
    heldBytes = 0;
  };
  const hold = (b: Buffer): void => {
    if (!want.has(line) || heldBytes >= limit) return;
    const part = b.subarray(0, limit - heldBytes);
    held.push(Buffer.from(part));
    heldBytes += part.length;
  };
  let tail = 0; // bytes after the last line break read
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let from = 0;
      tail += chunk.length;
      for (let nl = chunk.indexOf(0x0a, from); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
        hold(chunk.subarray(from, nl));
        finish();
        line++;
        from = nl + 1;
        tail = chunk.length - from;
        if (line > last) return out;
      }
      hold(chunk.subarray(from));
    }
    if (tail > 0) finish(); // a last line without a line break
    return out;
  } finally {
    stream.destroy();
  }
}
