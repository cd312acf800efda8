// Exact bit-level conversions between float32 and the 16-bit float formats stored in
// checkpoints (IEEE 754 binary16 "F16" and bfloat16 "BF16"), plus each safetensors dtype's size.

/** Every dtype the safetensors format defines (format codes as written in the header). */
export const ST_DTYPES = [
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64',
  'F4', 'F6_E2M3', 'F6_E3M2', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ',
  'F16', 'BF16', 'F32', 'F64', 'C64',
] as const;

export type StDtype = (typeof ST_DTYPES)[number];

// Bits rather than bytes because F4 and F6 (OCP microscaling formats) pack several
// elements per byte; BOOL is one byte per element, as in the reference implementation.
const DTYPE_BITS: Record<StDtype, number> = {
  BOOL: 8, U8: 8, I8: 8, I16: 16, U16: 16, I32: 32, U32: 32, I64: 64, U64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
  F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
  F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
};

export function isStDtype(s: unknown): s is StDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BITS, s);
}

/**
 * Bytes per element: 1, 2, 4 or 8 for the byte-sized dtypes; fractional (0.5, 0.75) for
 * the packed sub-byte dtypes F4 and F6_*.
 */
export function dtypeByteSize(dtype: StDtype): number {
  return DTYPE_BITS[dtype] / 8;
}

/**
 * Bytes that `elements` elements of `dtype` occupy, or undefined when they do not fill whole
 * bytes (a packed F4/F6 tensor the reference implementation also rejects).
 */
export function tensorByteLength(dtype: StDtype, elements: number): number | undefined {
  const bits = elements * DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : undefined;
}

// --- binary16 -------------------------------------------------------------------------------

// 2^-24: the value of the f16 subnormal unit (mantissa LSB when the exponent field is 0).
const F16_SUBNORMAL_UNIT = 2 ** -24;
// f32 exponent bias (127) minus f16 exponent bias (15).
const BIAS_DELTA = 112;

let f16Table: Float32Array | undefined;

/** All 65536 half values decoded once (256 KiB): a table lookup per element afterwards. */
function f16DecodeTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, or NaN with its payload
    } else if (exp === 0) {
      table[h] = (sign ? -1 : 1) * mant * F16_SUBNORMAL_UNIT; // ±0 and subnormals, exact
    } else {
      bits[h] = (sign | ((exp + BIAS_DELTA) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

export function f16ToF32(src: Uint16Array): Float32Array {
  // Copy bit patterns, not numbers: reading a float32 NaN into a JS number (a double) may set
  // its quiet bit in optimized code (x86's cvtss2sd does), which changed NaN payloads under load.
  const table = new Uint32Array(f16DecodeTable().buffer);
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = table[src[i]];
  return out;
}

/** One f32 bit pattern to the nearest binary16 pattern, ties to even. */
function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    // Keep the top payload bits so f16 → f32 → f16 is the identity; a payload that lived
    // only in the dropped low bits would read as inf, so set the quiet bit instead.
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00; // beyond the largest finite half: overflow to inf
  if (e >= -14) {
    // Normal half: keep 10 of the 23 mantissa bits, round on the 13 dropped ones.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1; // a carry may reach inf: correct
    return sign | h;
  }
  // Values below half the smallest subnormal (2^-25) round to zero; 2^-25 itself ties to 0.
  if (e < -25) return sign;
  // Subnormal half: the value in units of 2^-24 is (1.mant) · 2^(e+24) = full >> shift.
  const full = mant | 0x800000;
  const shift = -e - 1; // 14..24
  let h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (h & 1) === 1)) h += 1; // may carry into the smallest normal: correct
  return sign | h;
}

export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

// --- bfloat16 -------------------------------------------------------------------------------

/** bfloat16 is the top half of a float32: widening is a shift, exact for every pattern. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16 >>> 0;
  return out;
}

export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      // NaN: rounding could carry the payload into the exponent (→ inf) or drop it (→ inf);
      // truncate and set bf16's quiet bit (0x0040) so it stays a quiet NaN.
      out[i] = (x >>> 16) | 0x0040;
    } else {
      // Round to nearest even on the 16 dropped bits: add 0x7fff plus the kept LSB.
      // Carries into the exponent are correct rounding (up to inf for the largest values).
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}
