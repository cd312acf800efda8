// Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON describing each tensor, then the raw little-endian tensor bytes.
// Reads go tensor by tensor through a file descriptor, so files larger than memory work.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, isStDtype, ST_DTYPES, tensorByteLength, type StDtype } from './dtypes';

export type { StDtype } from './dtypes';

export interface TensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Absolute position of the first byte in the file. */
  byteOffset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {
  readonly file: string;
  readonly tensor?: string;
  constructor(message: string, file: string, tensor?: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.file = file;
    this.tensor = tensor;
  }
}

// The reference (Rust) implementation refuses headers above 100 MB; a real header is a few
// hundred bytes per tensor, so anything larger is corrupt or hostile.
export const MAX_HEADER_BYTES = 100_000_000;
// Reads and writes move at most this much per system call: readSync/writeSync lengths must fit
// in an int32, and 64 MiB keeps the float32 → half conversion buffers small.
const IO_CHUNK_BYTES = 64 * 1024 * 1024;
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Elements in a tensor of this shape; a scalar (shape []) has one. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** '; close names: "a", "b", "c"' (the three nearest by edit distance), or '' when there are none. */
export function closeNamesHint(wanted: string, names: Iterable<string>): string {
  const scored: Array<[number, string]> = [];
  for (const n of names) scored.push([editDistance(wanted, n), n]);
  scored.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
  return scored.length ? `; close names: ${scored.slice(0, 3).map(([, n]) => `"${n}"`).join(', ')}` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Reads exactly `length` bytes at `position` into a fresh (hence aligned) buffer. */
function readAt(fd: number, file: string, position: number, length: number, tensor?: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(IO_CHUNK_BYTES, length - done), position + done);
    if (n === 0) {
      throw new SafetensorsError(
        `${file}: the file ended after ${position + done} bytes while reading ${tensor ? `tensor "${tensor}"` : 'the header'}; it may be truncated or still being written. Re-download or re-save it.`,
        file, tensor);
    }
    done += n;
  }
  return out;
}

function parseHeader(file: string, fileSize: number, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (what: string, tensor?: string): never => {
    throw new SafetensorsError(`${file}: not a valid safetensors file: ${what}. Re-download it, or re-save it with the safetensors library (save_file / save_pretrained).`, file, tensor);
  };
  if (fileSize < 8) fail(`it is ${fileSize} bytes long, shorter than the 8-byte header length`);
  const headerLen = Buffer.from(readAt(fd, file, 0, 8)).readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`the header claims ${headerLen} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLen);
  if (8 + n > fileSize) fail(`the header claims ${n} bytes but the file has only ${fileSize - 8} after the length`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(readAt(fd, file, 8, n)));
  } catch (e) {
    fail(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the header is not a JSON object');
  const dataStart = 8 + n;
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const ranges: Array<{ name: string; begin: number; end: number }> = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('"__metadata__" is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__" value "${k}" is a ${typeof v}, not a string`);
      }
      metadata = Object.fromEntries(Object.entries(entry as Record<string, string>)); // own keys, even "__proto__"
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`${where} is not an object`, name);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (dtype === undefined || shape === undefined || offsets === undefined) fail(`${where} lacks "dtype", "shape" or "data_offsets"`, name);
    if (!isStDtype(dtype)) fail(`${where} has unknown dtype ${JSON.stringify(dtype)} (known: ${ST_DTYPES.join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where} has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${where} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] of non-negative integers`, name);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as number[];
    if (end < begin) fail(`${where} has data_offsets [${begin}, ${end}] that end before they begin`, name);
    const elements = elementCount(dims);
    const expected = Number.isSafeInteger(elements) ? tensorByteLength(dtype as StDtype, elements) : undefined;
    if (expected !== end - begin) {
      fail(`${where} is ${dtype} with shape [${dims.join(', ')}], which needs ${expected ?? 'a non-whole number of'} bytes, but its data_offsets span ${end - begin}`, name);
    }
    if (dataStart + end > fileSize) {
      fail(`${where} ends at byte ${dataStart + end}, past the end of the file (${fileSize} bytes); the file may be truncated`, name);
    }
    tensors.set(name, { name, dtype: dtype as StDtype, shape: dims, byteOffset: dataStart + begin, byteLength: end - begin });
    // Empty tensors occupy no bytes, so they cannot overlap anything.
    if (end > begin) ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const [a, b] = [ranges[i - 1], ranges[i]];
    if (b.begin < a.end) fail(`tensors "${a.name}" [${a.begin}, ${a.end}) and "${b.name}" [${b.begin}, ${b.end}) overlap`, b.name);
  }
  return { tensors, metadata };
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
    private readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens the file and validates its header; tensor bytes are read only on request. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot open (${(e as Error).message}). Check that the file exists and is readable.`, path);
    }
    try {
      const { tensors, metadata } = parseHeader(path, fs.fstatSync(fd).size, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      throw new SafetensorsError(
        `${this.path}: no tensor named "${name}"${closeNamesHint(name, this.tensors.keys()) || '; the file holds no tensors'}` +
        '. Check that the model matches the architecture being loaded.', this.path, name);
    }
    return { ...t, shape: [...t.shape] };
  }

  /** The tensor's raw little-endian bytes, in a buffer of its own. */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    if (this.fd === undefined) throw new SafetensorsError(`${this.path}: read of "${name}" after close()`, this.path, name);
    return readAt(this.fd, this.path, t.byteOffset, t.byteLength, name);
  }

  /** The tensor widened (or narrowed, for F64) to float32. */
  readFloat32(name: string): Float32Array {
    const { dtype } = this.info(name);
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'F64') {
      throw new SafetensorsError(`${this.path}: tensor "${name}" is ${dtype}; only F32, F16, BF16 and F64 tensors can be read as float32 (quantized or integer weights are not supported): use the float16, bfloat16 or float32 release of the model.`, this.path, name);
    }
    if (!LITTLE_ENDIAN) throw new SafetensorsError(`${this.path}: safetensors data is little-endian and this machine is big-endian; not supported.`, this.path, name);
    // readBytes returns a fresh buffer starting at offset 0, so the typed views are aligned
    // whatever the tensor's offset in the file was.
    const bytes = this.readBytes(name);
    const { buffer, byteLength } = bytes;
    switch (dtype) {
      case 'F32': return new Float32Array(buffer, 0, byteLength / 4);
      case 'F16': return f16ToF32(new Uint16Array(buffer, 0, byteLength / 2));
      case 'BF16': return bf16ToF32(new Uint16Array(buffer, 0, byteLength / 2));
      default: return Float32Array.from(new Float64Array(buffer, 0, byteLength / 8));
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  /** Float32Array: values, encoded to `dtype`. Uint16Array: F16/BF16 bits. Uint8Array: encoded bytes. */
  data: Float32Array | Uint16Array | Uint8Array;
  dtype: 'F32' | 'F16' | 'BF16';
}

/** Checks one tensor against its declared dtype and shape; returns its byte length. */
function checkTensorToWrite(t: TensorToWrite, file: string, seen: Set<string>): number {
  const fail = (what: string): never => {
    throw new SafetensorsError(`${file}: cannot write tensor "${t.name}": ${what}.`, file, t.name);
  };
  if (t.name === '' || t.name === '__metadata__') fail('the name is empty or reserved');
  if (seen.has(t.name)) fail('the name appears twice');
  seen.add(t.name);
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') fail(`dtype ${String(t.dtype)} is not F32, F16 or BF16`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`shape [${t.shape.join(', ')}] has a negative or non-integer dimension`);
  const elements = elementCount(t.shape);
  const byteLength = elements * (t.dtype === 'F32' ? 4 : 2);
  const { data } = t;
  if (data instanceof Uint16Array && t.dtype === 'F32') fail('Uint16Array data holds 16-bit patterns but the dtype is F32');
  const got = data instanceof Uint8Array ? data.byteLength : data.length;
  const want = data instanceof Uint8Array ? byteLength : elements;
  if (got !== want) fail(`shape [${t.shape.join(', ')}] needs ${want} ${data instanceof Uint8Array ? 'bytes' : 'elements'} but the data has ${got}`);
  return byteLength;
}

/** The tensor's encoded bytes, in pieces of at most IO_CHUNK_BYTES. */
function* encodedChunks(t: TensorToWrite): Generator<Uint8Array> {
  const { data } = t;
  if (!(data instanceof Float32Array) || t.dtype === 'F32') {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < bytes.length; i += IO_CHUNK_BYTES) yield bytes.subarray(i, i + IO_CHUNK_BYTES);
    return;
  }
  const encode = t.dtype === 'F16' ? f32ToF16 : f32ToBf16;
  const perChunk = IO_CHUNK_BYTES / 2;
  for (let i = 0; i < data.length; i += perChunk) {
    const half = encode(data.subarray(i, i + perChunk));
    yield new Uint8Array(half.buffer, 0, half.byteLength);
  }
}

/**
 * Writes `tensors`, contiguous in the given order, to `path` atomically (a temporary file
 * renamed over it). `metadata` is written as given; transformers expects {format: 'pt'}.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  if (!LITTLE_ENDIAN) throw new SafetensorsError(`${path}: safetensors data is little-endian and this machine is big-endian; not supported.`, path);
  // No prototype, so a tensor named "__proto__" becomes a key like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${path}: metadata value "${k}" is a ${typeof v}; safetensors metadata must map strings to strings.`, path);
    }
    header.__metadata__ = metadata;
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    const len = checkTensorToWrite(t, path, seen);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces to a multiple of 8 so the data starts 8-byte aligned, as the Python library does.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);

  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fs.mkdirSync(nodePath.dirname(path), { recursive: true });
    const out = (fd = fs.openSync(tmp, 'w'));
    const writeAll = (bytes: Uint8Array): void => {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(out, bytes, done, bytes.length - done);
    };
    writeAll(prefix);
    writeAll(json);
    for (const t of tensors) for (const chunk of encodedChunks(t)) writeAll(chunk);
    fs.fsyncSync(out);
    fs.closeSync(out);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(`${path}: writing failed (${(e as Error).message}); nothing was replaced. Check free disk space and write permission.`, path);
  }
}
