// The adapter over a whole model, as PEFT's LoraModel keeps it beside its LoraLayer: the
// LoRA-able linear layers by module path, which of them the config targets, and adding, loading,
// removing, exporting (PEFT tensor names and layouts), merging and unmerging the adapter on all
// of them at once. The causal-LM driver (models/causalLm.ts) owns one and delegates to it.
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hf/config';
import { Rng } from '../util/rng';
import { moduleLora, resolveLoraConfig, selectTargets, type LoraConfig } from './config';
import type { LoraLinear } from './layer';
import { convertAdapter, isDecompInit } from './initDecomp';

/** One PEFT adapter tensor in PEFT's layout: lora_A (r, in), lora_B (out, r), DoRA's lora_magnitude_vector (out). */
export interface AdapterTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** PEFT's state-dict key of a module's lora_A / lora_B weight. */
export function peftName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

/** PEFT's state-dict key of a module's DoRA magnitude (saved without `.default.weight`, as PEFT 0.21 writes it). */
export function magnitudeName(modulePath: string): string {
  return `base_model.model.${modulePath}.lora_magnitude_vector`;
}

export class LoraAdapters {
  /** Every LoRA-able linear layer by PEFT module path (`transformer.h.0.attn.c_attn`, …). */
  readonly linears = new Map<string, LoraLinear>();
  /** The installed adapter's resolved config; undefined when none is installed. */
  config?: LoraConfig;

  constructor(readonly spec: ModelSpec) {}

  linear(path: string): LoraLinear {
    const l = this.linears.get(path);
    if (!l) throw new Error(`internal: no linear module ${path}`);
    return l;
  }

  /** Adds a fresh adapter (B = 0: outputs unchanged) on the modules the config targets. */
  add(partial: Partial<LoraConfig> = {}, seed = 0): LoraConfig {
    const cfg = resolveLoraConfig(this.spec, partial);
    this.remove();
    const rng = new Rng(seed);
    for (const m of selectTargets(this.spec, cfg)) {
      const l = this.linear(m.path);
      l.initAdapter(moduleLora(cfg, m.path), rng);
      if (cfg.useDora) l.initMagnitude(); // after A and B, as PEFT's DoRA variant init
    }
    this.config = cfg;
    return cfg;
  }

  /**
   * Installs PEFT-layout weights (A (r, in), B (out, r)) by PEFT tensor name; every target must be present.
   * With `init` (a resumed PiSSA/OLoRA run: A₀, B₀ under the same names), each layer trains on its residual base.
   */
  load(cfg: LoraConfig, tensors: Map<string, { shape: number[]; data: Float32Array }>, init?: Map<string, { data: Float32Array }>): void {
    const resolved = resolveLoraConfig(this.spec, cfg);
    this.remove();
    const used = new Set<string>();
    for (const m of selectTargets(this.spec, resolved)) {
      const [an, bn] = [peftName(m.path, 'A'), peftName(m.path, 'B')];
      const a = tensors.get(an);
      const b = tensors.get(bn);
      if (!a || !b) throw new Error(`adapter is missing ${!a ? an : bn} for target module ${m.path}`);
      const [ta, tb] = [tf.tensor2d(a.data, a.shape as [number, number]), tf.tensor2d(b.data, b.shape as [number, number])];
      const [a0, b0] = [init?.get(an), init?.get(bn)];
      if (init && (!a0 || !b0)) throw new Error(`the ${String(resolved.initLoraWeights)} checkpoint has no initial ${!a0 ? an : bn}`);
      if (a0 && b0) this.linear(m.path).loadResidual(ta, tb, { a: a0.data, b: b0.data }, moduleLora(resolved, m.path));
      else this.linear(m.path).loadPeft(ta, tb, moduleLora(resolved, m.path));
      used.add(an).add(bn);
      if (resolved.useDora) {
        const mn = magnitudeName(m.path);
        const mag = tensors.get(mn);
        if (!mag) throw new Error(`adapter is missing ${mn} for target module ${m.path} (use_dora is true)`);
        this.linear(m.path).loadMagnitude(tf.tensor(mag.data, mag.shape));
        used.add(mn);
      }
    }
    const extra = [...tensors.keys()].filter((k) => !used.has(k));
    if (extra.length && !resolved.useDora && extra.some((k) => k.endsWith('.lora_magnitude_vector'))) {
      throw new Error(`adapter has DoRA magnitudes (${extra.find((k) => k.endsWith('.lora_magnitude_vector'))}) but the config has use_dora false`);
    }
    if (extra.length) throw new Error(`adapter has tensors for modules the config does not target: ${extra.slice(0, 5).join(', ')}`);
    this.config = resolved;
  }

  remove(): void {
    for (const l of this.linears.values()) l.removeAdapter();
    this.config = undefined;
  }

  /** PEFT-named adapter tensors (`base_model.model.<path>.lora_A.weight` (r, in), `.lora_B.weight` (out, r)). */
  tensors(): AdapterTensor[] {
    const out: AdapterTensor[] = [];
    for (const l of this.linears.values()) {
      if (!l.hasAdapter) continue;
      const { a, b, magnitude } = l.peftTensors();
      out.push({ name: peftName(l.module.path, 'A'), shape: a.shape, data: a.dataSync() as Float32Array });
      out.push({ name: peftName(l.module.path, 'B'), shape: b.shape, data: b.dataSync() as Float32Array });
      if (magnitude) out.push({ name: magnitudeName(l.module.path), shape: magnitude.shape, data: magnitude.dataSync() as Float32Array });
      tf.dispose([a, b, magnitude] as tf.Tensor[]);
    }
    return out;
  }

  /** PiSSA/OLoRA's initial A₀ (r, in), B₀ (out, r) under PEFT's names; empty for other inits. */
  initTensors(): AdapterTensor[] {
    return [...this.linears.values()].flatMap((l) => {
      const f = l.initFactors();
      if (!f) return [];
      const { inFeatures: n, outFeatures: m, path } = l.module;
      const r = f.a.length / n;
      return [{ name: peftName(path, 'A'), shape: [r, n] as [number, number], data: f.a }, { name: peftName(path, 'B'), shape: [m, r] as [number, number], data: f.b }];
    });
  }

  /**
   * The adapter as it is written to disk and applies to the original base: the tensors and config as
   * installed, or for PiSSA/OLoRA PEFT's converted form (rank 2r, initDecomp.ts convertAdapter).
   */
  peftForm(): { config: LoraConfig; tensors: AdapterTensor[] } {
    if (!this.config) throw new Error('the model has no adapter');
    const tensors = this.tensors();
    if (!isDecompInit(this.config.initLoraWeights)) return { config: this.config, tensors };
    const init = new Map(this.initTensors().map((t) => [t.name, t]));
    const c = convertAdapter(this.config, tensors, init);
    return { config: c.config, tensors: c.tensors.map((t) => ({ ...t, shape: t.shape as [number, number] })) };
  }

  /**
   * Trainable variables with the PEFT tensor they hold, transposed: Aᵀ (in, r) for lora_A, Bᵀ (r, out) for lora_B;
   * DoRA's magnitude (out) as it is.
   */
  namedVariables(): { peftName: string; variable: tf.Variable }[] {
    return [...this.linears.values()].flatMap((l) => {
      const [at, bt, m] = l.trainableVariables();
      if (!at) return [];
      const ab = [{ peftName: peftName(l.module.path, 'A'), variable: at }, { peftName: peftName(l.module.path, 'B'), variable: bt }];
      return m ? [...ab, { peftName: magnitudeName(l.module.path), variable: m }] : ab;
    });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.linears.values()].flatMap((l) => l.trainableVariables());
  }

  /** The adapter variables of block i (empty when the block is not adapted). */
  blockVariables(i: number): tf.Variable[] {
    return [...this.linears.values()].filter((l) => l.module.layer === i).flatMap((l) => l.trainableVariables());
  }

  merge(): void {
    for (const l of this.linears.values()) l.merge();
  }

  unmerge(): void {
    for (const l of this.linears.values()) l.unmerge();
  }

  dispose(): void {
    for (const l of this.linears.values()) l.dispose();
    this.linears.clear();
    this.config = undefined;
  }
}
