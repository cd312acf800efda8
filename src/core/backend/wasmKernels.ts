// Faster replacements for three wasm-backend kernels of tfjs 4.22: Slice, SplitV and Unpack.
// Its Slice copies the *whole* input out of the wasm heap (backend.readSync) before taking the
// part it needs, and SplitV/Unpack call that Slice once per output, so splitting a tensor into n
// parts costs n full copies. Measured on this machine: one [1, 128, 64] slice of a [48, 128, 64]
// tensor took 0.9 ms (an Add over the whole tensor: 0.09 ms); unstacking it took 43 ms.
// These versions read the input in place (a view on the heap) and copy only the output's
// elements, in runs as long as the layout allows. Results are bit-identical (a copy is a copy).
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use (public methods of the class). */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const REPLACED = ['Slice', 'SplitV', 'Unpack'] as const;
const originals = new Map<string, tf.KernelConfig>();

/**
 * Copies x[begin : begin+size] into out (both views on the heap, row-major). The innermost run of
 * dimensions that the slice covers entirely, plus the partial one above it, is one contiguous
 * block; an odometer walks the outer dimensions.
 */
export function copySlice(
  x: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> },
  shape: readonly number[],
  out: { set(a: ArrayLike<number>, offset: number): void },
  begin: readonly number[],
  size: readonly number[],
): void {
  const rank = shape.length;
  if (rank === 0) {
    out.set(x.subarray(0, 1), 0);
    return;
  }
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  // k: the outermost dimension of the contiguous block (all dims after it are taken whole).
  let k = rank - 1;
  while (k > 0 && size[k] === shape[k]) k--;
  const run = size[k] * strides[k];
  let outer = 1;
  for (let d = 0; d < k; d++) outer *= size[d];
  let base = 0;
  for (let d = 0; d < rank; d++) base += begin[d] * strides[d];
  const idx = new Array<number>(k).fill(0);
  let offset = base;
  for (let n = 0; n < outer; n++) {
    out.set(x.subarray(offset, offset + run), n * run);
    // Advance the odometer over dims k−1 … 0.
    for (let d = k - 1; d >= 0; d--) {
      idx[d]++;
      offset += strides[d];
      if (idx[d] < size[d]) break;
      offset -= idx[d] * strides[d];
      idx[d] = 0;
    }
  }
}

function sliceInfo(backend: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((s) => s === 0)) return out;
  // Views after makeOutput: growing the heap detaches earlier views.
  copySlice(backend.typedArrayFromHeap(x), x.shape, backend.typedArrayFromHeap(out), begin, size);
  return out;
}

const fastSlice: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return originals.get('Slice')!.kernelFunc({ inputs, attrs, backend });
  const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  return sliceInfo(backend as unknown as WasmBackendLike, x, b, s);
};

const fastSplitV: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return originals.get('SplitV')!.kernelFunc({ inputs, attrs, backend });
  const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((n) => {
    const size = [...x.shape];
    size[ax] = n;
    const out = sliceInfo(backend as unknown as WasmBackendLike, x, [...begin], size);
    begin[ax] += n;
    return out;
  });
};

const fastUnpack: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = inputs.value as tf.TensorInfo;
  if (x.dtype === 'string') return originals.get('Unpack')!.kernelFunc({ inputs, attrs, backend });
  let { axis } = attrs as unknown as { axis: number };
  if (axis < 0) axis += x.shape.length;
  const outShape = x.shape.filter((_, d) => d !== axis);
  const wasm = backend as unknown as WasmBackendLike;
  return Array.from({ length: x.shape[axis] }, (_, i) => {
    const begin = new Array<number>(x.shape.length).fill(0);
    begin[axis] = i;
    const size = [...x.shape];
    size[axis] = 1;
    const part = sliceInfo(wasm, x, begin, size);
    // Same buffer, one axis fewer: the shape is metadata (tfjs's own Unpack does the same).
    return { dataId: part.dataId, dtype: part.dtype, shape: outShape };
  });
};

const FAST: Record<(typeof REPLACED)[number], tf.KernelFunc> = { Slice: fastSlice, SplitV: fastSplitV, Unpack: fastUnpack };

/** Registers the fast Slice/SplitV/Unpack for the wasm backend (idempotent). */
export function installFastWasmKernels(): void {
  for (const name of REPLACED) {
    if (originals.has(name)) continue;
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) continue;
    originals.set(name, orig);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...orig, kernelFunc: FAST[name] });
  }
}

/** Puts tfjs's own kernels back (for tests that compare both). */
export function uninstallFastWasmKernels(): void {
  for (const [name, orig] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(orig);
  }
  originals.clear();
}
