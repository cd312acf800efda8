// Fingerprints that tie a run to its inputs: a streamed SHA-256 of a dataset file, and a cheap
// fingerprint of a model folder that identifies the checkpoint without hashing gigabytes.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_HEADER_BYTES } from './safetensors';
import { WeightStore } from './weights';

/** SHA-256 (hex) of a file, read as a stream so memory stays flat for any size. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    const stream = fs.createReadStream(file);
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', (e) => reject(new Error(`Cannot hash ${file}: ${e.message}. Check that the file exists and is readable.`, { cause: e })));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

// Mixed into the hash so a future change of what is hashed cannot collide with these values.
const FINGERPRINT_SCHEME = 'lora-lab-model-fingerprint-v1';

/**
 * SHA-256 (hex) over config.json's bytes and, for each top-level *.safetensors file in name
 * order, its name, byte size and JSON header (tensor names, dtypes, shapes, offsets, metadata).
 * Cost: a few kilobytes read per file, whatever the model size.
 *
 * It identifies the checkpoint, not every byte: two folders with the same config and the same
 * tensor layout but different weight values (e.g. the same architecture re-trained, or a file
 * edited in place) get the same fingerprint. Tokenizer files are not included.
 * Symlinked files (the Hugging Face cache layout) are followed.
 *
 * The weights are then opened as loading opens them (WeightStore: the single file or the index's
 * shards, each header validated — offsets inside the file, sizes matching dtype × shape, no
 * overlaps), so a run is never created for, nor tied to, a corrupt checkpoint: a session
 * computes this before it writes the run folder.
 */
export function fingerprintModel(dir: string): string {
  const hash = crypto.createHash('sha256');
  const part = (label: string, bytes: Uint8Array | string) => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    // Length-prefixed fields: no concatenation of two different inputs can read the same.
    hash.update(`${label}:${b.length}:`);
    hash.update(b);
  };
  part('scheme', FINGERPRINT_SCHEME);
  const config = path.join(dir, 'config.json');
  try {
    part('config.json', fs.readFileSync(config));
  } catch (e) {
    throw new Error(`Cannot fingerprint the model: ${config} cannot be read (${(e as Error).message}). Pick a Hugging Face model folder containing config.json.`, { cause: e });
  }
  const shards = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors') && fs.statSync(path.join(dir, f)).isFile())
    .sort();
  for (const name of shards) {
    const file = path.join(dir, name);
    const { size, header } = readSafetensorsHeader(file);
    part('file', name);
    part('size', String(size));
    part('header', header);
  }
  WeightStore.open(dir).close();
  return hash.digest('hex');
}

/** The size of a safetensors file and its raw JSON header bytes, read through a descriptor. */
function readSafetensorsHeader(file: string): { size: number; header: Buffer } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    const fix = 'the file is truncated or not safetensors; re-download or re-export it';
    if (size < 8 || fs.readSync(fd, prefix, 0, 8, 0) !== 8) throw new Error(`${file}: shorter than the 8-byte header length (${fix}).`);
    const n = prefix.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES) || Number(n) + 8 > size) {
      throw new Error(`${file}: header length ${n} does not fit the file of ${size} bytes (${fix}).`);
    }
    const header = Buffer.alloc(Number(n));
    const got = fs.readSync(fd, header, 0, header.length, 8);
    if (got !== header.length) throw new Error(`${file}: read ${got} of ${header.length} header bytes (${fix}).`);
    return { size, header };
  } finally {
    fs.closeSync(fd);
  }
}
