// LoRA Lab's wasm Slice/SplitV/Unpack (src/core/backend/wasmKernels.ts) against tfjs's own wasm kernels
// (the reference: a slice is a copy, so results must be identical element for element), on
// contiguous and strided slices of ranks 1–5, int32/bool/float32, and empty slices.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { copySlice, installFastWasmKernels, uninstallFastWasmKernels } from '../../src/core/backend/wasmKernels';
import { Rng } from '../../src/core/util/rng';

const onWasm = tf.getBackend() === 'wasm';

/** Runs f with tfjs's own kernels, then with ours, and returns both results as arrays. */
function both<T>(f: () => T): [T, T] {
  uninstallFastWasmKernels();
  let ref: T;
  try {
    ref = f();
  } finally {
    installFastWasmKernels();
  }
  return [ref, f()];
}

const values = (ts: tf.Tensor | tf.Tensor[]) => (Array.isArray(ts) ? ts : [ts]).map((t) => ({ shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) }));

describe.skipIf(!onWasm)('fast wasm slicing kernels', () => {
  afterAll(() => installFastWasmKernels());
  const rng = new Rng(3);
  const shapes = [[7], [5, 6], [4, 3, 5], [2, 3, 4, 5], [2, 2, 3, 2, 3]];

  it.each(shapes.map((s) => [s.join('×'), s] as const))('slice of a %s tensor: 40 random windows equal tfjs’s kernel', (_n, shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const data = Array.from({ length: size }, (_, i) => (dtype === 'bool' ? Number(i % 3 === 0) : i - 7.5));
      const x = tf.tensor(data, shape, dtype);
      for (let k = 0; k < 40; k++) {
        const begin = shape.map((d) => rng.nextUint32() % d);
        const sz = shape.map((d, i) => rng.nextUint32() % (d - begin[i] + 1)); // may be 0: an empty slice
        const [ref, ours] = both(() => {
          const r = tf.slice(x, begin, sz);
          const v = values(r);
          r.dispose();
          return v;
        });
        expect(ours, `${dtype} begin ${begin} size ${sz}`).toEqual(ref);
      }
      x.dispose();
    }
  });

  it('split (SplitV) and unstack (Unpack) along every axis equal tfjs’s kernels', () => {
    const x = tf.tensor(Array.from({ length: 120 }, (_, i) => i), [4, 5, 6], 'float32');
    for (let axis = 0; axis < 3; axis++) {
      const n = x.shape[axis];
      const sizes = n === 4 ? [1, 3] : n === 5 ? [2, 2, 1] : [3, -1];
      const [refSplit, oursSplit] = both(() => {
        const parts = tf.split(x, sizes, axis);
        const v = values(parts);
        tf.dispose(parts);
        return v;
      });
      expect(oursSplit).toEqual(refSplit);
      const [refUnstack, oursUnstack] = both(() => {
        const parts = tf.unstack(x, axis);
        const v = values(parts);
        tf.dispose(parts);
        return v;
      });
      expect(oursUnstack).toEqual(refUnstack);
    }
    x.dispose();
  });

  it('the slice gradient (a Pad of the upstream gradient) is unchanged', () => {
    const x = tf.randomNormal([3, 4, 5]);
    const [ref, ours] = both(() => {
      const g = tf.grad((t: tf.Tensor) => tf.slice(t, [1, 0, 2], [2, 3, 2]).square().sum())(x);
      const v = values(g);
      g.dispose();
      return v;
    });
    expect(ours).toEqual(ref);
    x.dispose();
  });
});

describe('copySlice (the strided copy behind the kernels)', () => {
  it('copies a [1:3, 2:4] window of a 3×4 row-major matrix in two runs of 2', () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i);
    const out = new Float32Array(4);
    copySlice(x, [3, 4], out, [1, 2], [2, 2]);
    expect(Array.from(out)).toEqual([6, 7, 10, 11]);
  });
});
