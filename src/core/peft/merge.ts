// Merging a PEFT LoRA adapter into its base, tensor by tensor straight from the base's files
// (the model is never built, so memory holds one tensor at a time): W' = W + scale·(B·A) in the
// file's layout ((B·A)ᵀ for GPT-2's Conv1D), with DoRA then each output's row (Conv1D: column)
// scaled by m/‖W + scale·B·A‖, rounded back to the tensor's own dtype. Writes a
// complete model folder (its README.md the merged model's card, peft/modelCard.ts) through a
// temporary sibling folder renamed at the end; also serves the merged tensors in memory
// (MergedSource) so evaluation scores exactly what the folder would hold.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../hf/dtypes';
import { readConfig, type ModelSpec } from '../hf/config';
import { loraScale, moduleLora, type LoraConfig } from '../lora/config';
import { Gpt2Model } from '../models/gpt2';
import { buildModel } from '../models/load';
import type { CausalLM } from '../models/causalLm';
import type { TensorSource } from '../models/weightReader';
import { linearModules, type LinearModule } from '../lora/modules';
import { readPeftAdapterFor, type PeftAdapter } from './adapterFolder';
import { CARD_FILE, cardFacts, mergedModelCard } from './modelCard';
import { SafetensorsFile, type StDtype } from '../hf/safetensors';
import { WeightStore } from '../hf/weights';

export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

/** One adapted module: where its weight lives in the base's files and the factors to add. */
export interface ModuleDelta {
  module: LinearModule;
  /** Key of the weight in the base's own layout (`h.0.attn.c_attn.weight` for bare GPT-2 files). */
  key: string;
  a: Float32Array; // (r, in)
  b: Float32Array; // (out, r)
  r: number;
  scale: number;
  /** DoRA's magnitude (out): the merged weight is (W + ΔW) ⊙ m/‖W + ΔW‖ per output. */
  magnitude?: Float32Array;
}

/** The base key of each adapted module's weight → its delta; checks keys, shapes and finiteness. */
export function mergePlan(spec: ModelSpec, base: TensorSource, cfg: LoraConfig, tensors: PeftAdapter['tensors'], where: string): Map<string, ModuleDelta> {
  const names = base.names();
  const prefix = spec.family === 'gpt2' ? Gpt2Model.detectPrefix(names, where) : '';
  const plan = new Map<string, ModuleDelta>();
  for (const module of linearModules(spec)) {
    const a = tensors.get(`base_model.model.${module.path}.lora_A.weight`);
    const b = tensors.get(`base_model.model.${module.path}.lora_B.weight`);
    if (!a || !b) continue;
    const mag = cfg.useDora ? tensors.get(`base_model.model.${module.path}.lora_magnitude_vector`) : undefined;
    if (cfg.useDora && (!mag || mag.data.length !== module.outFeatures)) {
      throw new MergeError(`${where}: the DoRA adapter has ${mag ? `a magnitude of ${mag.data.length} values` : 'no lora_magnitude_vector'} for ${module.path}, which needs ${module.outFeatures} (one per output)`);
    }
    for (const [t, which] of [[a, 'lora_A'], [b, 'lora_B'], ...(mag ? [[mag, 'lora_magnitude_vector'] as const] : [])] as const) {
      const bad = t.data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new MergeError(`adapter tensor ${module.path}.${which}${which === 'lora_magnitude_vector' ? '' : '.weight'} holds ${t.data[bad]} at element ${bad}: refusing to merge NaN/Inf weights (the training diverged; use an earlier checkpoint)`);
    }
    const key = (spec.family === 'gpt2' ? prefix + module.path.replace(/^transformer\./, '') : module.path) + '.weight';
    const shape = base.has(key) ? base.info(key).shape : undefined;
    const want = module.fanInFanOut ? [module.inFeatures, module.outFeatures] : [module.outFeatures, module.inFeatures];
    if (!shape) throw new MergeError(`${where}: the base has no tensor "${key}" for adapted module ${module.path}: is this the adapter's base model?`);
    if (shape.length !== 2 || shape[0] !== want[0] || shape[1] !== want[1]) {
      throw new MergeError(`${where}: tensor "${key}" has shape [${shape.join(', ')}], expected [${want.join(', ')}] for ${module.path}`);
    }
    plan.set(key, { module, key, a: a.data, b: b.data, r: a.shape[0], scale: loraScale(moduleLora(cfg, module.path)), ...(mag && { magnitude: mag.data }) });
  }
  if (plan.size === 0) throw new MergeError(`${where}: the adapter adapts no module of this model`);
  return plan;
}

/**
 * W += scale·(B·A) in place, W in the file's layout; products summed in float64 like one float32 matmul, then rounded.
 * DoRA: then W ← W ⊙ m/‖W‖ per output (PEFT's DoraLinearVariant.merge_safe), the norm of the float32 sum.
 */
export function applyDelta(w: Float32Array, d: ModuleDelta): void {
  addLoraDelta(w, d);
  if (d.magnitude) scaleOutputs(w, d.module, d.magnitude);
}

/** Each output of W (a row of nn.Linear's (out, in), a column of Conv1D's (in, out)) times m/‖that output's weights‖. */
function scaleOutputs(w: Float32Array, module: LinearModule, m: Float32Array): void {
  const { inFeatures: n, outFeatures: o, fanInFanOut } = module;
  const [step, stride] = fanInFanOut ? [o, 1] : [1, n]; // element k of output j sits at j·stride + k·step
  for (let j = 0; j < o; j++) {
    let ss = 0;
    for (let k = 0; k < n; k++) ss += w[j * stride + k * step] ** 2;
    const f = Math.fround(m[j] / Math.fround(Math.sqrt(ss)));
    for (let k = 0; k < n; k++) w[j * stride + k * step] = Math.fround(w[j * stride + k * step] * f);
  }
}

function addLoraDelta(w: Float32Array, d: ModuleDelta): void {
  const { inFeatures: n, outFeatures: m, fanInFanOut } = d.module;
  const { a, b, r, scale } = d;
  if (!fanInFanOut) {
    const acc = new Float64Array(n); // one output row of B·A, (out, in) layout
    for (let o = 0; o < m; o++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const c = b[o * r + k];
        for (let i = 0, ai = k * n; i < n; i++) acc[i] += c * a[ai + i];
      }
      for (let i = 0, wi = o * n; i < n; i++) w[wi + i] += Math.fround(Math.fround(acc[i]) * scale);
    }
  } else {
    const acc = new Float64Array(m); // one row of (B·A)ᵀ, Conv1D's (in, out) layout
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const c = a[k * n + i];
        for (let o = 0; o < m; o++) acc[o] += c * b[o * r + k];
      }
      for (let o = 0, wi = i * m; o < m; o++) w[wi + o] += Math.fround(Math.fround(acc[o]) * scale);
    }
  }
}

/** The merged tensor's bytes in `dtype`; refuses NaN/Inf (including half-precision overflow). */
export function encodeMerged(w: Float32Array, dtype: StDtype, key: string): Uint8Array {
  const bad = w.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new MergeError(`merged tensor "${key}" holds ${w[bad]} at element ${bad}: refusing to write NaN/Inf weights (check the base and the adapter)`);
  if (dtype === 'F32') return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  if (dtype !== 'F16' && dtype !== 'BF16') throw new MergeError(`tensor "${key}" is ${dtype}: only F32, F16 and BF16 weights can be merged`);
  const half = dtype === 'F16' ? f32ToF16(w) : f32ToBf16(w);
  const expMask = dtype === 'F16' ? 0x7c00 : 0x7f80;
  const over = half.findIndex((h) => (h & expMask) === expMask);
  if (over >= 0) throw new MergeError(`merged tensor "${key}" overflows ${dtype} at element ${over} (${w[over]}): refusing to write Inf weights`);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

function decodeHalf(bytes: Uint8Array, dtype: 'F16' | 'BF16'): Float32Array {
  const u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return dtype === 'F16' ? f16ToF32(u16) : bf16ToF32(u16);
}

/** The base's tensors with the adapter merged in, rounded to each tensor's stored dtype: what the merged folder holds. */
export class MergedSource implements TensorSource {
  constructor(private readonly store: WeightStore, private readonly plan: Map<string, ModuleDelta>) {}
  names(): string[] {
    return this.store.names();
  }
  has(name: string): boolean {
    return this.store.has(name);
  }
  info(name: string): { shape: number[] } {
    return this.store.info(name);
  }
  readFloat32(name: string): Float32Array {
    const w = this.store.readFloat32(name);
    const d = this.plan.get(name);
    if (!d) return w;
    applyDelta(w, d);
    const { dtype } = this.store.info(name);
    const bytes = encodeMerged(w, dtype, name);
    return dtype === 'F16' || dtype === 'BF16' ? decodeHalf(bytes, dtype) : w;
  }
}

/** Builds the merged model in memory (no files written), from the base folder and an installed-or-read adapter. */
export function buildMergedModel(modelDir: string, cfg: LoraConfig, tensors: PeftAdapter['tensors']): CausalLM {
  const { spec } = readConfig(modelDir);
  const store = WeightStore.open(modelDir);
  try {
    return buildModel(spec, new MergedSource(store, mergePlan(spec, store, cfg, tensors, modelDir)), modelDir).model;
  } finally {
    store.close();
  }
}

/** The lowest floating-point precision a model folder stores its weights in (what a merge of it keeps). */
export function weightsPrecision(modelDir: string): 'F32' | 'F16' | 'BF16' {
  const store = WeightStore.open(modelDir);
  const d = store.dtypes();
  store.close();
  return d.BF16 ? 'BF16' : d.F16 ? 'F16' : 'F32';
}

/** Writes one safetensors file from a list of tensors whose bytes are produced one at a time. */
function writeStreaming(file: string, entries: { name: string; dtype: StDtype; shape: number[]; byteLength: number }[], metadata: Record<string, string>, bytesOf: (name: string) => Uint8Array): void {
  const header: Record<string, unknown> = Object.create(null);
  header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8; // data starts 8-byte aligned, as the Python library writes
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length), 0);
  const fd = fs.openSync(file, 'wx');
  try {
    const writeAll = (bytes: Uint8Array): void => {
      for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 26));
    };
    writeAll(len);
    writeAll(json);
    for (const e of entries) {
      const bytes = bytesOf(e.name);
      if (bytes.byteLength !== e.byteLength) throw new MergeError(`internal: tensor "${e.name}" produced ${bytes.byteLength} bytes, expected ${e.byteLength}`);
      writeAll(bytes);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const WEIGHT_FILE = /\.safetensors$|^model\.safetensors\.index\.json$/;
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|h5|msgpack|onnx|gguf|ot|tflite)$/i;
/** Non-weight files larger than this are not copied (a model folder's tokenizer and configs are far smaller). */
export const MAX_COPIED_FILE_BYTES = 64 * 1024 * 1024;

export interface MergeSummary {
  out: string;
  /** Modules whose weight was merged, by PEFT path. */
  mergedModules: string[];
  /** Safetensors files written (same names and tensor placement as the base: sharded stays sharded). */
  weightFiles: string[];
  dtypes: Record<string, number>;
  copied: string[];
  skipped: { file: string; why: string }[];
  bytes: number;
  ms: number;
}

/**
 * `lora-lab merge`: base folder + PEFT adapter folder → a complete model folder at `out` in the base's
 * own key layout, dtypes and sharding. Nothing appears at `out` unless every file was written.
 */
export function mergeModelFolder(opts: { model: string; adapter: string; out: string; force?: boolean }): MergeSummary {
  const t0 = performance.now();
  const [modelDir, adapterDir, out] = [opts.model, opts.adapter, opts.out].map((p) => path.resolve(p));
  if (out === modelDir || out === adapterDir) throw new MergeError(`--out ${opts.out} is the base or adapter folder: choose a new folder for the merged model`);
  const { spec } = readConfig(modelDir);
  // Checked against the base from adapter_config.json and the header before its weights are read.
  const adapter = readPeftAdapterFor(adapterDir, spec);
  const cfg = adapter.config;
  if (fs.existsSync(out) && !opts.force) throw new MergeError(`${out} already exists: choose another --out, or pass --force to replace it`);
  const store = WeightStore.open(modelDir);
  const parent = path.dirname(out);
  const tmp = path.join(parent, `.${path.basename(out)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    const plan = mergePlan(spec, store, cfg, adapter.tensors, modelDir);
    const sizes = store.files.reduce((s, f) => s + fs.statSync(f).size, 0);
    fs.mkdirSync(parent, { recursive: true });
    const free = fs.statfsSync(parent);
    if (free.bavail * free.bsize < sizes * 1.05) {
      throw new MergeError(`${parent}: ${Math.round((free.bavail * free.bsize) / 2 ** 20)} MiB free, the merged weights need about ${Math.round(sizes / 2 ** 20)} MiB: free some space or choose another --out`);
    }
    fs.mkdirSync(tmp);
    const dtypes: Record<string, number> = {};
    for (const file of store.files) {
      const st = SafetensorsFile.open(file);
      try {
        const entries = st.names().map((n) => st.info(n)).sort((x, y) => x.byteOffset - y.byteOffset);
        for (const e of entries) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1;
        writeStreaming(path.join(tmp, path.basename(file)), entries, { format: 'pt', ...st.metadata }, (name) => {
          const d = plan.get(name);
          if (!d) return st.readBytes(name); // untouched: the base's bytes as they are
          const w = st.readFloat32(name);
          applyDelta(w, d);
          return encodeMerged(w, st.info(name).dtype, name);
        });
      } finally {
        st.close();
      }
    }
    const copied: string[] = [];
    const skipped: MergeSummary['skipped'] = [];
    const sharded = store.files.length > 1 || path.basename(store.files[0]) !== 'model.safetensors';
    for (const name of fs.readdirSync(modelDir).sort()) {
      const src = path.join(modelDir, name);
      const stat = fs.statSync(src); // follows links (Hugging Face cache snapshots are symlinks)
      if (!stat.isFile()) skipped.push({ file: name, why: 'a folder' });
      else if (name === CARD_FILE) continue; // the base's card: replaced by the merged model's own (below)
      else if (name === 'model.safetensors.index.json' && sharded) {
        fs.copyFileSync(src, path.join(tmp, name));
        copied.push(name);
      } else if (WEIGHT_FILE.test(name)) {
        if (!store.files.includes(src)) skipped.push({ file: name, why: 'weights not used by the base (the single model.safetensors wins)' });
      } else if (OTHER_WEIGHTS.test(name)) skipped.push({ file: name, why: 'weights in another format would not contain the merge' });
      else if (stat.size > MAX_COPIED_FILE_BYTES) skipped.push({ file: name, why: `larger than ${MAX_COPIED_FILE_BYTES / 2 ** 20} MiB` });
      else {
        fs.copyFileSync(src, path.join(tmp, name));
        copied.push(name);
      }
    }
    fs.writeFileSync(path.join(tmp, CARD_FILE), mergedModelCard(cardFacts(adapterDir, modelDir)));
    for (const f of fs.readdirSync(tmp)) {
      const fd = fs.openSync(path.join(tmp, f), 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    swapIn(tmp, out);
    return {
      out, mergedModules: [...plan.values()].map((d) => d.module.path), weightFiles: store.files.map((f) => path.basename(f)).sort(), dtypes,
      copied, skipped, bytes: sizes, ms: performance.now() - t0,
    };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    store.close();
  }
}

/** Renames the finished temp folder to `out`; an existing `out` (with --force) is moved aside first and deleted last. */
function swapIn(tmp: string, out: string): void {
  let aside: string | undefined;
  if (fs.existsSync(out)) {
    aside = `${tmp}.old`;
    fs.renameSync(out, aside);
  }
  try {
    fs.renameSync(tmp, out);
  } catch (e) {
    if (aside) fs.renameSync(aside, out);
    throw e;
  }
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
}
