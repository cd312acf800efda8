// safetensors reader/writer against the format spec (huggingface/safetensors README: u64 LE
// header length, JSON header, little-endian data, offsets relative to the data start) and
// against bytes written by Python's safetensors 0.8.0.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../../src/core/hf/dtypes';
import { MAX_HEADER_BYTES, SafetensorsError, SafetensorsFile, writeSafetensors } from '../../src/core/hf/safetensors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-st-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (label: string): string => path.join(tmp, `${label}-${counter++}.safetensors`);

/** A file built byte by byte: u64 LE header length (or `lenOverride`), header text, data. */
function handBuilt(label: string, header: string | object, data: ArrayLike<number> = [], lenOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  const file = tmpFile(label);
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.from(Uint8Array.from(data))]));
  return file;
}

function openError(file: string): SafetensorsError {
  try {
    SafetensorsFile.open(file).close();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    const err = e as SafetensorsError;
    expect(err.file).toBe(file);
    expect(err.message).toContain(path.basename(file));
    return err;
  }
  throw new Error(`expected ${file} to be rejected`);
}

const f32Bytes = (xs: number[]): number[] => [...new Uint8Array(Float32Array.from(xs).buffer)];

// Python: save_file({"w": np.array([1, -2], np.float32)}, f, metadata={"format": "pt"})
const PY_F32 = 'WAAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJ3Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMCw4XX19ICAgAACAPwAAAMA=';
// Python: torch save_file({"b": bf16 [1, 0.5, -3], "h": f16 [[65504, 2^-24]]}, f, metadata={"format": "pt"})
const PY_HALF = 'kAAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJiIjp7ImR0eXBlIjoiQkYxNiIsInNoYXBlIjpbM10sImRhdGFfb2Zmc2V0cyI6WzAsNl19LCJoIjp7ImR0eXBlIjoiRjE2Iiwic2hhcGUiOlsxLDJdLCJkYXRhX29mZnNldHMiOls2LDEwXX19ICCAPwA/QMD/ewEA';

describe('compatibility with Python safetensors 0.8.0', () => {
  it('reads files the Python library wrote (F32, BF16, F16, metadata)', () => {
    const a = tmpFile('py');
    fs.writeFileSync(a, Buffer.from(PY_F32, 'base64'));
    const fa = SafetensorsFile.open(a);
    expect(fa.metadata).toEqual({ format: 'pt' });
    expect([...fa.readFloat32('w')]).toEqual([1, -2]);
    fa.close();
    const b = tmpFile('py');
    fs.writeFileSync(b, Buffer.from(PY_HALF, 'base64'));
    const fb = SafetensorsFile.open(b);
    expect(fb.names()).toEqual(['b', 'h']);
    expect([...fb.readFloat32('b')]).toEqual([1, 0.5, -3]);
    expect(fb.info('h')).toMatchObject({ dtype: 'F16', shape: [1, 2], byteLength: 4 });
    expect([...fb.readFloat32('h')]).toEqual([65504, 2 ** -24]);
    fb.close();
  });

  it('writes byte-for-byte what the Python library writes for the same tensors', () => {
    const a = tmpFile('w');
    writeSafetensors(a, [{ name: 'w', shape: [2], dtype: 'F32', data: Float32Array.from([1, -2]) }], { format: 'pt' });
    expect(fs.readFileSync(a).toString('base64')).toBe(PY_F32);
    const b = tmpFile('w');
    writeSafetensors(b, [
      { name: 'b', shape: [3], dtype: 'BF16', data: Float32Array.from([1, 0.5, -3]) },
      { name: 'h', shape: [1, 2], dtype: 'F16', data: Float32Array.from([65504, 2 ** -24]) },
    ], { format: 'pt' });
    expect(fs.readFileSync(b).toString('base64')).toBe(PY_HALF);
  });
});

describe('writeSafetensors → SafetensorsFile round trip', () => {
  const values = Float32Array.from([0.1, -1.5, 3.25, 1e-3, 65000, -7]);

  it('round-trips F32 exactly and F16/BF16 to the rounded values, incl. scalar and zero-size tensors', () => {
    const file = tmpFile('rt');
    const f16Bits = f32ToF16(values);
    writeSafetensors(file, [
      { name: 'f32', shape: [2, 3], dtype: 'F32', data: values },
      { name: 'f16', shape: [3, 2], dtype: 'F16', data: values },
      { name: 'bf16', shape: [6], dtype: 'BF16', data: values },
      { name: 'f16.bits', shape: [6], dtype: 'F16', data: f16Bits },
      { name: 'f32.bytes', shape: [2], dtype: 'F32', data: new Uint8Array(values.buffer, 0, 8) },
      { name: 'scalar', shape: [], dtype: 'F32', data: Float32Array.from([42]) },
      { name: 'empty', shape: [0, 4], dtype: 'F16', data: new Float32Array(0) },
      { name: 'empty.bf16', shape: [3, 0], dtype: 'BF16', data: new Uint16Array(0) },
    ], { format: 'pt', note: 'ünïcode ✓' });
    const f = SafetensorsFile.open(file);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect(f.names()).toEqual(['f32', 'f16', 'bf16', 'f16.bits', 'f32.bytes', 'scalar', 'empty', 'empty.bf16']);
    expect([...f.readFloat32('f32')]).toEqual([...values]);
    expect([...f.readFloat32('f16')]).toEqual([...f16ToF32(f16Bits)]);
    expect([...f.readFloat32('f16.bits')]).toEqual([...f16ToF32(f16Bits)]);
    expect([...f.readFloat32('f32.bytes')]).toEqual([...values.subarray(0, 2)]);
    const bf = f.readFloat32('bf16');
    values.forEach((v, i) => expect(Math.abs(bf[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));
    expect(f.info('scalar')).toMatchObject({ shape: [], byteLength: 4 });
    expect([...f.readFloat32('scalar')]).toEqual([42]);
    expect(f.readFloat32('empty')).toHaveLength(0);
    expect(f.readFloat32('empty.bf16')).toHaveLength(0);
    f.close();
  });

  it('pads the header with spaces to a multiple of 8 and lays tensors out contiguously in order', () => {
    const file = tmpFile('pad');
    writeSafetensors(file, [
      { name: 'a', shape: [3], dtype: 'F16', data: Float32Array.from([1, 2, 3]) },
      { name: 'b', shape: [1], dtype: 'F32', data: Float32Array.from([4]) },
    ]);
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/} *$/);
    const header = JSON.parse(text);
    expect(header.__metadata__).toBeUndefined(); // no metadata given, none written
    expect(header.a.data_offsets).toEqual([0, 6]);
    expect(header.b.data_offsets).toEqual([6, 10]);
    expect(bytes.length).toBe(8 + n + 10);
    expect(fs.readdirSync(tmp).filter((e) => e.includes('.tmp-'))).toEqual([]); // temp file renamed away
  });

  it('replaces an existing file', () => {
    const file = tmpFile('over');
    writeSafetensors(file, [{ name: 'x', shape: [1], dtype: 'F32', data: Float32Array.from([1]) }]);
    writeSafetensors(file, [{ name: 'y', shape: [1], dtype: 'F32', data: Float32Array.from([2]) }]);
    const f = SafetensorsFile.open(file);
    expect(f.names()).toEqual(['y']);
    f.close();
  });

  it('rejects data that does not match the shape, duplicate names and F32 given as 16-bit patterns', () => {
    const file = tmpFile('bad-write');
    const attempt = (t: Parameters<typeof writeSafetensors>[1]): string => {
      try { writeSafetensors(file, t); } catch (e) { expect(e).toBeInstanceOf(SafetensorsError); return (e as Error).message; }
      throw new Error('expected a SafetensorsError');
    };
    expect(attempt([{ name: 'w', shape: [2, 2], dtype: 'F32', data: new Float32Array(3) }])).toMatch(/"w".*4 elements.*3/);
    const one = { name: 'w', shape: [1], dtype: 'F32' as const, data: new Float32Array(1) };
    expect(attempt([one, one])).toMatch(/"w".*twice/);
    expect(attempt([{ name: 'u', shape: [1], dtype: 'F32', data: new Uint16Array(1) }])).toMatch(/"u".*F32/);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('reading (spec: offsets relative to the data start; alignment not guaranteed)', () => {
  it('reads tensors at unaligned offsets, across a gap, and F64 as float32', () => {
    // Header left unpadded (length 1 mod 4 is likely) plus a 1-byte gap: absolute offsets are odd.
    const data = [0xee, ...f32Bytes([1.5, -2.25, 3]), 0x00, 0x3c, 0x00, 0xc0, ...new Uint8Array(Float64Array.from([0.1, -8]).buffer)];
    const file = handBuilt('unaligned', {
      a: { dtype: 'F32', shape: [3], data_offsets: [1, 13] },
      h: { dtype: 'F16', shape: [2], data_offsets: [13, 17] },
      d: { dtype: 'F64', shape: [2], data_offsets: [17, 33] },
    }, data);
    const f = SafetensorsFile.open(file);
    expect(f.info('a').byteOffset % 4).not.toBe(0);
    expect([...f.readFloat32('a')]).toEqual([1.5, -2.25, 3]);
    expect([...f.readFloat32('h')]).toEqual([1, -2]);
    expect([...f.readFloat32('d')]).toEqual([Math.fround(0.1), -8]);
    expect([...f.readBytes('h')]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    f.close();
  });

  it('reads a tensor that lies beyond 2 GiB without reading the whole file (sparse file)', () => {
    const begin = 3 * 2 ** 30; // past both the 2 GiB and int32 limits
    const header = Buffer.from(JSON.stringify({ far: { dtype: 'F32', shape: [2], data_offsets: [begin, begin + 8] } }));
    const file = tmpFile('big');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, Buffer.concat([len, header]));
    fs.writeSync(fd, Uint8Array.from(f32Bytes([7, -9])), 0, 8, 8 + header.length + begin);
    fs.closeSync(fd);
    const f = SafetensorsFile.open(file);
    expect([...f.readFloat32('far')]).toEqual([7, -9]);
    f.close();
    fs.rmSync(file);
  });

  it('refuses to read a non-float tensor as float32, naming file, tensor and dtype; readBytes still works', () => {
    const file = handBuilt('ints', { ids: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, [5, 0, 0, 0]);
    const f = SafetensorsFile.open(file);
    expect(() => f.readFloat32('ids')).toThrow(SafetensorsError);
    expect(() => f.readFloat32('ids')).toThrow(new RegExp(`${path.basename(file)}.*"ids".*I32`));
    expect([...f.readBytes('ids')]).toEqual([5, 0, 0, 0]);
    f.close();
    expect(() => f.readBytes('ids')).toThrow(/after close/);
  });

  it('names the missing tensor, the file and close names', () => {
    const file = tmpFile('names');
    const t = (name: string) => ({ name, shape: [1], dtype: 'F32' as const, data: new Float32Array(1) });
    writeSafetensors(file, [t('h.0.attn.c_attn.weight'), t('h.0.attn.c_proj.weight'), t('h.0.mlp.c_fc.weight'), t('wte.weight')]);
    const f = SafetensorsFile.open(file);
    let err: SafetensorsError | undefined;
    try { f.readFloat32('h.0.attn.c_atn.weight'); } catch (e) { err = e as SafetensorsError; }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err?.tensor).toBe('h.0.attn.c_atn.weight');
    expect(err?.message).toContain(path.basename(file));
    expect(err?.message).toMatch(/close names: "h\.0\.attn\.c_attn\.weight"/);
    f.close();
  });
});

describe('malformed files are rejected with the file (and tensor) named, never hanging', () => {
  const T = 5_000;
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('a file shorter than 8 bytes', () => {
    const file = tmpFile('short');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expect(openError(file).message).toMatch(/3 bytes long/);
  }, T);

  it('a header length larger than the file', () => {
    expect(openError(handBuilt('long', { w: ok }, f32Bytes([1, 2]), 1000n)).message).toMatch(/header claims 1000 bytes/);
  }, T);

  it('a header length over the 100 MB cap, up to u64 max', () => {
    expect(openError(handBuilt('cap', { w: ok }, [], BigInt(MAX_HEADER_BYTES + 1))).message).toMatch(/limit/);
    expect(openError(handBuilt('cap', { w: ok }, [], 2n ** 64n - 1n)).message).toMatch(/limit/);
  }, T);

  it('a header that is not JSON, not UTF-8, or not an object', () => {
    expect(openError(handBuilt('json', '{"w": {"dtype": "F32",')).message).toMatch(/JSON/);
    const file = tmpFile('utf8');
    fs.writeFileSync(file, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]));
    expect(openError(file).message).toMatch(/UTF-8/);
    expect(openError(handBuilt('array', '[1, 2]')).message).toMatch(/not a JSON object/);
  }, T);

  it('overlapping tensors, naming both', () => {
    const e = openError(handBuilt('overlap', { a: ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Array(12).fill(0)));
    expect(e.message).toMatch(/"a".*"b".*overlap/);
  }, T);

  it('a tensor whose data_offsets run past the end of the file', () => {
    const e = openError(handBuilt('eof', { w: ok }, [0, 0, 0, 0]));
    expect(e.tensor).toBe('w');
    expect(e.message).toMatch(/"w".*past the end/);
  }, T);

  it('a lying header: dtype × shape differs from the byte span', () => {
    const e = openError(handBuilt('lying', { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(12).fill(0)));
    expect(e.tensor).toBe('w');
    expect(e.message).toMatch(/"w".*needs 12 bytes.*span 8/);
  }, T);

  it('an unknown dtype', () => {
    expect(openError(handBuilt('dtype', { w: { dtype: 'F17', shape: [2], data_offsets: [0, 8] } }, new Array(8).fill(0))).message).toMatch(/"w".*unknown dtype "F17"/);
  }, T);

  it('negative or non-integer dimensions', () => {
    expect(openError(handBuilt('neg', { w: { dtype: 'F32', shape: [-1, 2], data_offsets: [0, 8] } }, new Array(8).fill(0))).message).toMatch(/"w".*non-negative integers/);
    expect(openError(handBuilt('frac', { w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, new Array(8).fill(0))).message).toMatch(/"w".*non-negative integers/);
  }, T);

  it('data_offsets that end before they begin, or are missing', () => {
    expect(openError(handBuilt('rev', { w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, new Array(8).fill(0))).message).toMatch(/"w".*end before/);
    expect(openError(handBuilt('miss', { w: { dtype: 'F32', shape: [2] } }, new Array(8).fill(0))).message).toMatch(/"w".*data_offsets/);
  }, T);

  it('__metadata__ that is not string → string', () => {
    expect(openError(handBuilt('meta', { __metadata__: { step: 3 }, w: ok }, new Array(8).fill(0))).message).toMatch(/"step".*not a string/);
  }, T);

  it('a file that does not exist', () => {
    expect(openError(path.join(tmp, 'absent.safetensors')).message).toMatch(/cannot open/);
  }, T);
});
