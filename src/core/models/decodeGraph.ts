// One-token decoding as a single TensorFlow graph on the native backend. tfjs-node runs every op
// as an eager TensorFlow op (~15–30 µs of dispatch each, measured), and a decoded token of a
// 124M model is ~600 of them; a graph runs the same ops through TensorFlow's executor in one
// session call (a few µs per node). tfjs-node can run graphs only as SavedModels, so the graph
// is written as one (a GraphDef in saved_model.pb, encoded here; no variables: weights and KV
// cache are fed as inputs, the tensors the eager path already holds) into a temporary folder,
// loaded once per model, and run with the backend's runSavedModel.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

// ---- protobuf wire format (only what GraphDef / SavedModel need) ----

class Pb {
  private parts: number[] = [];
  private chunks: Uint8Array[] = [];
  private flush(): void {
    if (this.parts.length) {
      this.chunks.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  private varint(v: number): void {
    // Non-negative integers below 2^53 (sizes, enums, lengths); -1 as int64 for unknown dimensions.
    if (v < 0) {
      const big = BigInt.asUintN(64, BigInt(v));
      let b = big;
      for (let i = 0; i < 10; i++) {
        const byte = Number(b & 0x7fn);
        b >>= 7n;
        this.parts.push(b ? byte | 0x80 : byte);
        if (!b) break;
      }
      return;
    }
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
  int(field: number, v: number): this {
    this.varint(field * 8);
    this.varint(v);
    return this;
  }
  bool(field: number, v: boolean): this {
    return this.int(field, v ? 1 : 0);
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    this.flush();
    this.chunks.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.done());
  }
  float(field: number, v: number): this {
    this.varint(field * 8 + 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...b);
    return this;
  }
  done(): Uint8Array {
    this.flush();
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

const DT = { float32: 1, int32: 3 } as const;
type DType = keyof typeof DT;

/** TensorShapeProto: dim = 2 (size = 1); -1 is an unknown size. */
function shapeProto(shape: number[]): Pb {
  const s = new Pb();
  for (const n of shape) s.msg(2, new Pb().int(1, n));
  return s;
}

type Attr = { type: DType } | { b: boolean } | { i: number } | { shape: number[] } | { tensor: Pb };

/** AttrValue: s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8. */
function attrProto(a: Attr): Pb {
  const p = new Pb();
  if ('type' in a) p.int(6, DT[a.type]);
  else if ('b' in a) p.bool(5, a.b);
  else if ('i' in a) p.int(3, a.i);
  else if ('shape' in a) p.msg(7, shapeProto(a.shape));
  else p.msg(8, a.tensor);
  return p;
}

/**
 * A GraphDef built node by node. Each method returns the node's output name ("name" or
 * "name:i"), which later nodes take as input.
 */
export class GraphBuilder {
  private nodes: Pb[] = [];
  private count = 0;
  private consts = new Map<string, string>();

  /** NodeDef: name = 1, op = 2, input = 3, attr = 5 (map<string, AttrValue>: key = 1, value = 2). */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, name = `${op.toLowerCase()}_${this.count++}`): string {
    const n = new Pb().str(1, name).str(2, op);
    for (const i of inputs) n.str(3, i);
    for (const [k, v] of Object.entries(attrs)) n.msg(5, new Pb().str(1, k).msg(2, attrProto(v)));
    this.nodes.push(n);
    return name;
  }

  placeholder(name: string, dtype: DType = 'float32'): string {
    return this.op('Placeholder', [], { dtype: { type: dtype } }, name);
  }

  /** A constant (TensorProto: dtype = 1, tensor_shape = 2, float_val = 5, int_val = 7), shared by value. */
  constant(values: number[], shape: number[], dtype: DType = 'float32'): string {
    const key = `${dtype}:${shape.join('x')}:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      const t = new Pb().int(1, DT[dtype]).msg(2, shapeProto(shape));
      for (const v of values) {
        if (dtype === 'float32') t.float(5, v);
        else t.int(7, v); // negative int32 values are sign-extended varints (10 bytes)
      }
      name = this.op('Const', [], { dtype: { type: dtype }, value: { tensor: t } });
      this.consts.set(key, name);
    }
    return name;
  }

  scalar(v: number): string {
    return this.constant([v], []);
  }

  ints(values: number[]): string {
    return this.constant(values, [values.length], 'int32');
  }

  // Float ops used by the decoding steps (attribute T = float32).
  private f(op: string, inputs: string[], extra: Record<string, Attr> = {}): string {
    return this.op(op, inputs, { T: { type: 'float32' }, ...extra });
  }
  add(a: string, b: string): string {
    return this.f('AddV2', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.f('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.f('Mul', [a, b]);
  }
  square(a: string): string {
    return this.f('Square', [a]);
  }
  rsqrt(a: string): string {
    return this.f('Rsqrt', [a]);
  }
  sigmoid(a: string): string {
    return this.f('Sigmoid', [a]);
  }
  /**
   * Softmax over the last axis as exp(a − max) / Σ: five nodes of ~1–3 µs on a decoding step's
   * scores, where TensorFlow's Softmax node took ~30 µs (measured, oneDNN on).
   */
  softmax(a: string): string {
    const e = this.f('Exp', [this.sub(a, this.f('Max', [a, this.ints([-1])], { Tidx: { type: 'int32' }, keep_dims: { b: true } }))]);
    return this.f('RealDiv', [e, this.sum(e, -1, true)]);
  }
  matMul(a: string, b: string): string {
    return this.f('MatMul', [a, b], { transpose_a: { b: false }, transpose_b: { b: false } });
  }
  batchMatMul(a: string, b: string): string {
    return this.f('BatchMatMulV2', [a, b], { adj_x: { b: false }, adj_y: { b: false } });
  }
  sum(a: string, axis: number, keepDims: boolean): string {
    return this.f('Sum', [a, this.ints([axis])], { Tidx: { type: 'int32' }, keep_dims: { b: keepDims } });
  }
  reshape(a: string, shape: number[], dtype: DType = 'float32'): string {
    return this.op('Reshape', [a, this.ints(shape)], { T: { type: dtype }, Tshape: { type: 'int32' } });
  }
  concat(a: string, b: string, axis: number): string {
    return this.f('ConcatV2', [a, b, this.constant([axis], [], 'int32')], { N: { i: 2 }, Tidx: { type: 'int32' } });
  }
  /** Splits along `axis` into the given sizes; returns the outputs' names. */
  splitV(a: string, sizes: number[], axis: number): string[] {
    const n = this.f('SplitV', [a, this.ints(sizes), this.constant([axis], [], 'int32')], { num_split: { i: sizes.length }, Tlen: { type: 'int32' } });
    return sizes.map((_, i) => (i === 0 ? n : `${n}:${i}`));
  }
  /** Rows `indices` (int32 [N]) of a float table → [N, …]. */
  gather(table: string, indices: string): string {
    return this.op('GatherV2', [table, indices, this.constant([0], [], 'int32')], {
      Tparams: { type: 'float32' }, Tindices: { type: 'int32' }, Taxis: { type: 'int32' }, batch_dims: { i: 0 },
    });
  }

  /**
   * saved_model.pb: SavedModel (schema version = 1, meta_graphs = 2) with one MetaGraphDef
   * (meta_info_def = 1 with tags = 4; graph_def = 2). GraphDef: node = 1, versions = 4 (producer = 1).
   */
  savedModel(tag: string): Uint8Array {
    const graph = new Pb();
    for (const n of this.nodes) graph.msg(1, n);
    graph.msg(4, new Pb().int(1, 1205));
    const meta = new Pb().msg(1, new Pb().str(4, tag)).msg(2, graph);
    return new Pb().int(1, 1).msg(2, meta).done();
  }
}

/** What tfjs-node's backend offers for SavedModels (NodeJSKernelBackend). */
interface SavedModelBackend {
  loadSavedModelMetaGraph(dir: string, tags: string): number;
  runSavedModel(id: number, inputs: tf.Tensor[], infos: { name: string; tfDtype: string }[], outputs: string[]): tf.Tensor[];
  deleteSavedModel(id: number): void;
}

/**
 * Whether the current backend can run decoding graphs: tfjs-node's, on the CPU. On a GPU the
 * binding would resolve every fed tensor (all the weights) to host memory on each run.
 */
export function graphsSupported(): boolean {
  const b = tf.backend() as unknown as Partial<SavedModelBackend> & { isUsingGpuDevice?: boolean };
  return typeof b.loadSavedModelMetaGraph === 'function' && typeof b.runSavedModel === 'function' && b.isUsingGpuDevice !== true;
}

/** A loaded graph: run() feeds `inputs` (placeholder names, in order) and returns `outputs`. */
export class NativeGraph {
  private readonly infos: { name: string; tfDtype: string }[];
  private constructor(
    private readonly backend: SavedModelBackend,
    private id: number | undefined,
    inputs: { name: string; dtype: DType }[],
    private readonly outputs: string[],
  ) {
    this.infos = inputs.map((i) => ({ name: `${i.name}:0`, tfDtype: i.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }));
  }

  static load(g: GraphBuilder, inputs: { name: string; dtype: DType }[], outputs: string[]): NativeGraph {
    const backend = tf.backend() as unknown as SavedModelBackend;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-decode-'));
    try {
      fs.writeFileSync(path.join(dir, 'saved_model.pb'), g.savedModel('serve'));
      const id = backend.loadSavedModelMetaGraph(dir, 'serve');
      return new NativeGraph(backend, id, inputs, outputs.map((o) => (o.includes(':') ? o : `${o}:0`)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  run(inputs: tf.Tensor[]): tf.Tensor[] {
    if (this.id === undefined) throw new Error('internal: the decoding graph was disposed');
    if (inputs.length !== this.infos.length) throw new Error(`internal: the decoding graph takes ${this.infos.length} inputs, got ${inputs.length}`);
    return this.backend.runSavedModel(this.id, inputs, this.infos, this.outputs);
  }

  dispose(): void {
    if (this.id !== undefined) this.backend.deleteSavedModel(this.id);
    this.id = undefined;
  }
}
