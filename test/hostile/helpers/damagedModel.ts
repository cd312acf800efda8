// Copies of samples/model (a tiny GPT-2, 17 MB of F32 safetensors) damaged in one place each:
// its safetensors header rewritten (the tensor bytes kept), the file's raw bytes edited, or a
// field of config.json changed. What the model-file hostility cases load.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './childCli';

export const SAMPLE_MODEL = path.join(ROOT, 'samples', 'model');

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: number[];
}
export type Header = Record<string, HeaderEntry>;

export interface Damage {
  /** Edits the parsed header; the file is rewritten with the new header length and the same tensor bytes. */
  header?: (h: Header) => void;
  /** Edits the file's raw bytes (after any header edit). */
  bytes?: (b: Buffer) => Buffer;
  /** Edits config.json. */
  config?: (c: Record<string, unknown>) => void;
}

/** The sample model's header, parsed (its tensor names, dtypes, shapes and offsets). */
export function sampleHeader(): Header {
  const b = fs.readFileSync(path.join(SAMPLE_MODEL, 'model.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  return JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Header;
}

/** A copy of the sample model in `dir`, damaged as `d` says. */
export function damagedModel(dir: string, d: Damage): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(SAMPLE_MODEL, f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(SAMPLE_MODEL, 'config.json'), 'utf8')) as Record<string, unknown>;
  d.config?.(config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  let bytes: Buffer = fs.readFileSync(path.join(SAMPLE_MODEL, 'model.safetensors'));
  if (d.header) {
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Header;
    d.header(header);
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    bytes = Buffer.concat([prefix, json, bytes.subarray(8 + n)]); // offsets count from the data's start
  }
  if (d.bytes) bytes = d.bytes(Buffer.from(bytes));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes);
  return dir;
}

/** name → size and mtime of every file under `dir`: equal before and after means nothing was written there. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) out[f] = `${st.size}@${st.mtimeMs}`;
  }
  return out;
}
