// A copy of test/fixtures/gpt2-tiny whose model.safetensors header is patched (a dtype, a shape, a
// name), the tensor bytes as they were: a broken model folder written by the test that uses it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const GPT2_TINY = path.join(__dirname, '..', '..', 'fixtures', 'gpt2-tiny');

export type HeaderEntries = Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;

/** A fresh folder (config.json and the patched model.safetensors); the caller removes it. */
export function patchedGpt2Tiny(patch: (header: HeaderEntries) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-patched-gpt2-'));
  fs.copyFileSync(path.join(GPT2_TINY, 'config.json'), path.join(dir, 'config.json'));
  const bytes = fs.readFileSync(path.join(GPT2_TINY, 'model.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as HeaderEntries;
  patch(header);
  const text = JSON.stringify(header);
  const json = Buffer.from(text.padEnd(Math.ceil(text.length / 8) * 8, ' ')); // data 8-byte aligned, as safetensors writes
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([len, json, bytes.subarray(8 + n)]));
  return dir;
}
