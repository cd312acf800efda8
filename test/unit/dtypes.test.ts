// Bit-exact half-precision conversions, checked against IEEE 754-2008 binary16 bit patterns,
// the bfloat16 definition (the top 16 bits of a binary32) and roundTiesToEven (IEEE 754-2008 §4.3.1).
import { describe, expect, it } from 'vitest';
import { bf16ToF32, dtypeByteSize, f16ToF32, f32ToBf16, f32ToF16, isStDtype, tensorByteLength } from '../../src/core/hf/dtypes';

const fromBits = (bits: number[]): Float32Array => new Float32Array(new Uint32Array(bits).buffer);
const toBits = (f: Float32Array): number[] => [...new Uint32Array(f.buffer, f.byteOffset, f.length)];
const u16 = (xs: number[]): Uint16Array => Uint16Array.from(xs);
const isF16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

describe('f16ToF32 (IEEE 754-2008 binary16 reference patterns)', () => {
  it('decodes normals, extremes, subnormals, signed zeros, infinities and NaN', () => {
    const out = f16ToF32(u16([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555]));
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(-2);
    expect(out[2]).toBe(65504); // largest finite half
    expect(out[3]).toBe(2 ** -14); // smallest normal
    expect(out[4]).toBe(2 ** -24); // smallest subnormal
    expect(out[5]).toBe(1023 * 2 ** -24); // largest subnormal
    expect(Object.is(out[6], 0)).toBe(true);
    expect(Object.is(out[7], -0)).toBe(true);
    expect(out[8]).toBe(Infinity);
    expect(out[9]).toBe(-Infinity);
    expect(out[10]).toBeNaN();
    expect(out[11]).toBe(0.333251953125); // 0x3555, the half nearest 1/3
  });
});

describe('f32ToF16 (roundTiesToEven, IEEE 754-2008 §4.3.1)', () => {
  it('encodes the reference values', () => {
    const out = f32ToF16(Float32Array.from([1, -2, 65504, 2 ** -14, 2 ** -24, 0, -0, Infinity, -Infinity, 1 / 3]));
    expect([...out]).toEqual([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x3555]);
  });

  it('overflows to infinity from 65520 (the tie between 65504 and 2^16) upwards', () => {
    const out = f32ToF16(Float32Array.from([65519.99609375, 65520, -65520, 1e6, 3.4e38]));
    expect([...out]).toEqual([0x7bff, 0x7c00, 0xfc00, 0x7c00, 0x7c00]);
  });

  it('rounds below the subnormal range: 2^-25 ties to 0, just above it goes to 2^-24', () => {
    const [justAbove] = toBits(Float32Array.from([2 ** -25]));
    const out = f32ToF16(fromBits([...toBits(Float32Array.from([2 ** -25, -(2 ** -25), 2 ** -26, 1.5 * 2 ** -24, 2.5 * 2 ** -24, 1e-45])), justAbove + 1]));
    expect([...out]).toEqual([0x0000, 0x8000, 0x0000, 0x0002, 0x0002, 0x0000, 0x0001]);
  });

  it('keeps NaN a NaN, even when its payload lies only in the dropped low bits', () => {
    const out = f32ToF16(fromBits([0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff]));
    for (const h of out) expect(isF16NaN(h)).toBe(true);
    expect(out[1] & 0x8000).toBe(0x8000);
  });

  it('every one of the 65536 half patterns survives f16 → f32 → f16 unchanged (NaN payloads included)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    const mismatches = [...all].filter((h) => back[h] !== h);
    expect(mismatches).toEqual([]);
  });

  it('every midpoint between adjacent finite halves ties to the even one; one f32 ulp either side rounds to the nearer', () => {
    const values = f16ToF32(new Uint16Array(0x7c00).map((_, i) => i)); // 0 .. 65504
    const mids: number[] = [];
    for (let h = 0; h < 0x7bff; h++) mids.push((values[h] + values[h + 1]) / 2);
    const midF32 = Float32Array.from(mids);
    expect([...midF32]).toEqual(mids); // the midpoints are exact in binary32
    const bits = toBits(midF32);
    const at = f32ToF16(midF32);
    const below = f32ToF16(fromBits(bits.map((b) => b - 1)));
    const above = f32ToF16(fromBits(bits.map((b) => b + 1)));
    const bad: number[] = [];
    for (let h = 0; h < mids.length; h++) {
      const even = h % 2 === 0 ? h : h + 1;
      if (at[h] !== even || below[h] !== h || above[h] !== h + 1) bad.push(h);
    }
    expect(bad).toEqual([]);
    // The same holds for negative values, with the sign bit set.
    const neg = f32ToF16(Float32Array.from(mids, (m) => -m));
    expect([...neg].every((h, i) => h === ((i % 2 === 0 ? i : i + 1) | 0x8000))).toBe(true);
  });

  it('reads a Float32Array view that starts inside a larger buffer', () => {
    const big = Float32Array.from([7, 1, 2, 7]);
    expect([...f32ToF16(big.subarray(1, 3))]).toEqual([0x3c00, 0x4000]);
  });
});

describe('bfloat16 (top 16 bits of binary32)', () => {
  it('bf16ToF32 is a 16-bit shift: 0x3F80 = 1, 0xC000 = -2, 0x7F80 = inf, 0x8000 = -0', () => {
    const out = bf16ToF32(u16([0x3f80, 0xc000, 0x7f80, 0xff80, 0x8000, 0x7fc0, 0x0001]));
    expect([...out.slice(0, 4)]).toEqual([1, -2, Infinity, -Infinity]);
    expect(Object.is(out[4], -0)).toBe(true);
    expect(out[5]).toBeNaN();
    expect(toBits(out.subarray(6))).toEqual([0x00010000]);
  });

  it('f32ToBf16 rounds to nearest, ties to even', () => {
    const out = f32ToBf16(fromBits([
      0x3f808000, // 1 + 2^-8: halfway between 0x3F80 and 0x3F81 → even 0x3F80
      0x3f818000, // halfway between 0x3F81 and 0x3F82 → even 0x3F82
      0x3f808001, // just above halfway → 0x3F81
      0x3f817fff, // just below halfway → 0x3F81
      0xbf808000, // negative tie → 0xBF80
      0x7f7fffff, // largest float32 rounds up past the largest bf16 → inf
      0x7f800000, // inf stays inf
      0x00000001, // smallest float32 subnormal → +0
    ]));
    expect([...out]).toEqual([0x3f80, 0x3f82, 0x3f81, 0x3f81, 0xbf80, 0x7f80, 0x7f80, 0x0000]);
  });

  it('keeps NaN a quiet NaN instead of rounding it into infinity', () => {
    const out = f32ToBf16(fromBits([0x7f800001, 0x7fffffff, 0xff800001, 0x7fc00000]));
    expect([...out]).toEqual([0x7fc0, 0x7fff, 0xffc0, 0x7fc0]);
  });

  it('every non-NaN bf16 pattern survives bf16 → f32 → bf16; every NaN stays NaN', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    const bad = [...all].filter((h) => (isBf16NaN(h) ? !isBf16NaN(back[h]) : back[h] !== h));
    expect(bad).toEqual([]);
  });
});

describe('safetensors dtype sizes (safetensors format spec, Dtype::bitsize)', () => {
  it('knows byte sizes, including the packed sub-byte F4/F6 types', () => {
    expect(dtypeByteSize('F32')).toBe(4);
    expect(dtypeByteSize('BF16')).toBe(2);
    expect(dtypeByteSize('F64')).toBe(8);
    expect(dtypeByteSize('BOOL')).toBe(1);
    expect(dtypeByteSize('F8_E4M3')).toBe(1);
    expect(dtypeByteSize('C64')).toBe(8);
    expect(tensorByteLength('F4', 4)).toBe(2);
    expect(tensorByteLength('F4', 3)).toBeUndefined();
    expect(tensorByteLength('F6_E2M3', 4)).toBe(3);
    expect(isStDtype('U16')).toBe(true);
    expect(isStDtype('f32')).toBe(false);
    expect(isStDtype('toString')).toBe(false);
  });
});
