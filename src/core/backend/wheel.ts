// Takes chosen files out of a wheel (a zip) without unpacking the rest: the TensorFlow wheel is
// 274–572 MB of which LoRA Lab needs two libraries and 14 headers. Each file is written to
// `<dest>.part` and renamed when complete, with its mode bits kept (shared libraries stay executable).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';

export interface ExtractProgress {
  entry: string;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * Extracts every entry for which `destOf(name)` returns a path. Returns the destinations written.
 * Throws when `required` names an entry the wheel does not have.
 */
export async function extractFromWheel(
  wheelFile: string,
  destOf: (entryName: string) => string | undefined,
  opts: { required?: string[]; onProgress?: (p: ExtractProgress) => void; signal?: AbortSignal } = {},
): Promise<string[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(wheelFile, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (err, z) => (err || !z ? reject(err ?? new Error('no zip')) : resolve(z))),
  );
  const wanted: Array<{ entry: yauzl.Entry; dest: string }> = [];
  const names = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      names.add(entry.fileName);
      const dest = entry.fileName.endsWith('/') ? undefined : destOf(entry.fileName);
      if (dest) wanted.push({ entry, dest });
      zip.readEntry();
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  try {
    const missing = (opts.required ?? []).filter((n) => !names.has(n));
    if (missing.length) throw new Error(`${path.basename(wheelFile)} does not contain ${missing.join(', ')}`);
    const bytesTotal = wanted.reduce((s, w) => s + w.entry.uncompressedSize, 0);
    let bytesDone = 0;
    for (const { entry, dest } of wanted) {
      if (opts.signal?.aborted) throw new Error('cancelled');
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err || !s ? reject(err ?? new Error('no stream')) : resolve(s))));
      const part = `${dest}.part`;
      let last = 0;
      stream.on('data', (d: Buffer) => {
        bytesDone += d.length;
        const now = Date.now();
        if (opts.onProgress && now - last > 500) {
          last = now;
          opts.onProgress({ entry: entry.fileName, bytesDone, bytesTotal });
        }
      });
      // Unix mode bits live in the high 16 bits of the external attributes; default rw-r--r--.
      const mode = (entry.externalFileAttributes >>> 16) & 0o777 || 0o644;
      await pipeline(stream, fs.createWriteStream(part, { mode }), { signal: opts.signal });
      fs.renameSync(part, dest);
    }
    opts.onProgress?.({ entry: '', bytesDone, bytesTotal });
    return wanted.map((w) => w.dest);
  } finally {
    zip.close();
  }
}
