// PiSSA and OLoRA initialisation with PEFT 0.21.2's semantics (tuners/lora/layer.py pissa_init,
// olora_init), and PEFT's conversion of such an adapter to a plain LoRA adapter for the original base
// (save_pretrained(path_initial_model_for_weight_conversion=…): LoraModel.subtract_mutated_init).
//
// Both start from W in nn.Linear's (out, in) layout and factor part of it into the adapter:
//   pissa:          W = U·S·Vᵀ;  A = diag(√(S_r/s))·V_rᵀ (r, in), B = U_r·diag(√(S_r/s)) (out, r)
//   pissa_niter_N:  the same from torch.svd_lowrank(W, q=r, niter=N) (randomized; here with our seeded Rng)
//   olora:          W = Q·R;    A = R[:r] (r, in), B = Q[:, :r] (out, r)   (no division by s)
// and training runs on the residual base W_res = W − s·B₀·A₀, so the model starts unchanged. The
// trained adapter only applies to W_res; PEFT's conversion makes it apply to W:
//   ΔW = s·B·A − s·B₀·A₀ = s·[B | −B₀]·[A ; A₀]  → rank 2r, lora_alpha ×2 (×√2 with rsLoRA), init_lora_weights true.
// Everything on disk (the run's adapter/, every checkpoint) is that converted form; a checkpoint's
// trainer_state.json names the init so resuming splits it back (splitConverted) and rebuilds W_res.
import { isDecompInit, niterOf, type DecompInit, type LoraConfig } from './config';
import { householderQR, mat, type Mat } from './linalg64';
import { svdLowRank, svdTop } from './svd64';
import type { Rng } from '../util/rng';

export { isDecompInit, niterOf, type DecompInit };

/** PEFT-layout factors: A (r, in) row-major, B (out, r) row-major. */
export interface Factors {
  a: Float32Array;
  b: Float32Array;
}

/**
 * The initial A₀, B₀ of one layer from its base weight, given in LoRA Lab's (in, out) layout (what
 * LoraLinear holds; PEFT's transpose(weight, fan_in_fan_out) gives the same (out, in) matrix for
 * GPT-2's Conv1D and for nn.Linear). `scale` is the layer's alpha/r (alpha/√r with rsLoRA).
 */
export function decompose(kind: DecompInit, wInOut: Float32Array, inF: number, outF: number, r: number, scale: number, rng: Rng): Factors {
  const w = mat(outF, inF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) w.data[o * inF + i] = wInOut[i * outF + o];
  if (kind === 'olora') {
    const { q, r: rr } = householderQR(w, r); // only Q[:, :r] and R[:r]
    const k = q.cols;
    const a = new Float32Array(r * inF);
    const b = new Float32Array(outF * r);
    for (let i = 0; i < r; i++) for (let c = 0; c < inF; c++) a[i * inF + c] = rr.data[i * inF + c];
    for (let o = 0; o < outF; o++) for (let i = 0; i < r; i++) b[o * r + i] = q.data[o * k + i];
    return { a, b };
  }
  const niter = niterOf(kind);
  const svd = niter === undefined ? svdTop(w, r) : svdLowRank(w, r, niter, rng);
  return svdFactors(svd.u, svd.s, svd.v, r, scale);
}

/** A = diag(√(S/s))·Vᵀ, B = U·diag(√(S/s)): s·B·A = U·diag(S)·Vᵀ. */
function svdFactors(u: Mat, s: Float64Array, v: Mat, r: number, scale: number): Factors {
  const [outF, inF] = [u.rows, v.rows];
  const root = Float64Array.from(s, (x) => Math.sqrt(x / scale));
  const a = new Float32Array(r * inF);
  const b = new Float32Array(outF * r);
  for (let i = 0; i < r; i++) for (let c = 0; c < inF; c++) a[i * inF + c] = root[i] * v.data[c * v.cols + i];
  for (let o = 0; o < outF; o++) for (let i = 0; i < r; i++) b[o * r + i] = u.data[o * u.cols + i] * root[i];
  return { a, b };
}

/**
 * W_res = W − s·(B₀·A₀)ᵀ in the (in, out) layout, summed in float64 from the float32 factors as stored,
 * so a resumed run (factors read back from a checkpoint) rebuilds the very same residual.
 */
export function residualInOut(wInOut: Float32Array, f: Factors, inF: number, outF: number, r: number, scale: number): Float32Array {
  const out = new Float32Array(inF * outF);
  const ba = new Float64Array(outF);
  for (let i = 0; i < inF; i++) {
    ba.fill(0);
    for (let k = 0; k < r; k++) {
      const aki = f.a[k * inF + i];
      for (let o = 0; o < outF; o++) ba[o] += f.b[o * r + k] * aki;
    }
    for (let o = 0; o < outF; o++) out[i * outF + o] = wInOut[i * outF + o] - scale * ba[o];
  }
  return out;
}

type Named = { name: string; shape: number[]; data: Float32Array };

/**
 * PEFT's converted adapter (peft_model.py save_pretrained with path_initial_model_for_weight_conversion):
 * lora_A = cat([A, A₀], dim 0) (2r, in), lora_B = cat([B, −B₀], dim 1) (out, 2r); r, lora_alpha (×√2
 * with rsLoRA), rank_pattern and alpha_pattern doubled; init_lora_weights true. `init` holds A₀/B₀
 * under the same PEFT names as `tensors`.
 */
export function convertAdapter(cfg: LoraConfig, tensors: readonly Named[], init: ReadonlyMap<string, Named>): { config: LoraConfig; tensors: Named[] } {
  const double = (p?: Record<string, number>) => p && Object.fromEntries(Object.entries(p).map(([k, v]) => [k, 2 * v]));
  const config: LoraConfig = {
    ...cfg,
    r: 2 * cfg.r,
    loraAlpha: cfg.useRslora ? cfg.loraAlpha * Math.SQRT2 : 2 * cfg.loraAlpha,
    initLoraWeights: true,
    rankPattern: double(cfg.rankPattern),
    alphaPattern: double(cfg.alphaPattern),
  };
  const out = tensors.map((t) => {
    const t0 = init.get(t.name);
    if (!t0) throw new Error(`internal: no initial value of ${t.name} to convert the ${String(cfg.initLoraWeights)} adapter`);
    const [rows, cols] = t.shape;
    if (/\.lora_A\.weight$/.test(t.name)) {
      const data = new Float32Array(2 * rows * cols);
      data.set(t.data);
      data.set(t0.data, rows * cols);
      return { name: t.name, shape: [2 * rows, cols], data };
    }
    const data = new Float32Array(rows * 2 * cols);
    for (let o = 0; o < rows; o++) {
      for (let k = 0; k < cols; k++) {
        data[o * 2 * cols + k] = t.data[o * cols + k];
        data[o * 2 * cols + cols + k] = -t0.data[o * cols + k];
      }
    }
    return { name: t.name, shape: [rows, 2 * cols], data };
  });
  return { config, tensors: out };
}

/**
 * The inverse of convertAdapter for resuming: the trained A, B (first r rows / columns), the initial
 * A₀, B₀ (the rest, B₀ negated back) and the training config with `kind` as its init.
 */
export function splitConverted(cfg: LoraConfig, tensors: readonly Named[], kind: DecompInit): { config: LoraConfig; tensors: Named[]; init: Named[] } {
  const half = (p: Record<string, number> | undefined, what: string) =>
    p &&
    Object.fromEntries(
      Object.entries(p).map(([k, v]) => {
        if (v % 2 !== 0) throw new Error(`${what} ${k}=${v} is odd: not a converted ${kind} adapter`);
        return [k, v / 2];
      }),
    );
  if (cfg.r % 2 !== 0) throw new Error(`r=${cfg.r} is odd: not a converted ${kind} adapter (its rank is twice the trained r)`);
  const config: LoraConfig = {
    ...cfg,
    r: cfg.r / 2,
    loraAlpha: cfg.useRslora ? cfg.loraAlpha / Math.SQRT2 : cfg.loraAlpha / 2,
    initLoraWeights: kind,
    rankPattern: half(cfg.rankPattern, 'rank_pattern'),
    alphaPattern: cfg.alphaPattern && Object.fromEntries(Object.entries(cfg.alphaPattern).map(([k, v]) => [k, v / 2])),
  };
  const trained: Named[] = [];
  const init: Named[] = [];
  for (const t of tensors) {
    const [rows, cols] = t.shape;
    if (/\.lora_A\.weight$/.test(t.name)) {
      const r = rows / 2;
      trained.push({ name: t.name, shape: [r, cols], data: t.data.slice(0, r * cols) });
      init.push({ name: t.name, shape: [r, cols], data: t.data.slice(r * cols) });
    } else {
      const r = cols / 2;
      const [b, b0] = [new Float32Array(rows * r), new Float32Array(rows * r)];
      for (let o = 0; o < rows; o++) {
        for (let k = 0; k < r; k++) {
          b[o * r + k] = t.data[o * cols + k];
          b0[o * r + k] = -t.data[o * cols + r + k];
        }
      }
      trained.push({ name: t.name, shape: [rows, r], data: b });
      init.push({ name: t.name, shape: [rows, r], data: b0 });
    }
  }
  return { config, tensors: trained, init };
}
