// Per-layer key/value cache for incremental decoding: each forward step appends the keys and
// values of its new tokens, so generating one token costs one token's forward pass instead of
// recomputing the whole prefix. Updates are staged and committed only when the whole forward
// pass succeeds, so a failed step leaves the cache as it was. The cache also holds what a model
// builds once per generation for decoding (merged/fused weights, per-step tables: decodeState),
// disposed with the cache.
import * as tf from '@tensorflow/tfjs';

/** Keys and values with time on the second-to-last axis: [B, kvHeads, T, hd] or grouped [B·kvHeads, T, hd]. */
interface LayerKv {
  k: tf.Tensor;
  v: tf.Tensor;
}

/** What a model keeps for the decoding steps of one cache. */
export interface DecodeState {
  dispose(): void;
}

export class KvCache {
  private layers: (LayerKv | undefined)[];
  private pending: (LayerKv | undefined)[];
  private committed = 0;
  private state?: { owner: object; value: DecodeState };

  constructor(readonly numLayers: number) {
    this.layers = new Array<LayerKv | undefined>(numLayers).fill(undefined);
    this.pending = new Array<LayerKv | undefined>(numLayers).fill(undefined);
  }

  /** Tokens whose keys and values are cached (the position of the next token). */
  get length(): number {
    return this.committed;
  }

  /**
   * The decoding state `owner` (a model) built for this cache, made by `build` on first use and
   * kept (its tensors must be tf.keep'd) until dispose(). One owner per cache.
   */
  decodeState<T extends DecodeState>(owner: object, build: () => T): T {
    if (this.state && this.state.owner !== owner) throw new Error('internal: a KV cache is used with one model only');
    if (!this.state) this.state = { owner, value: build() };
    return this.state.value as T;
  }

  /**
   * Keys and values of layer `layer` for all positions so far plus the new ones (time on the
   * second-to-last axis: [B, kvHeads, T, hd] or [B·kvHeads, T, hd], as the model stores them).
   * The result is kept (it survives the caller's tf.tidy) and staged until commit().
   */
  extend<T extends tf.Tensor>(layer: number, k: T, v: T): { k: T; v: T } {
    if (layer < 0 || layer >= this.numLayers) throw new Error(`internal: KV cache has ${this.numLayers} layers, got layer ${layer}`);
    if (this.pending[layer]) throw new Error(`internal: layer ${layer} extended twice in one step`);
    const old = this.layers[layer];
    const next: LayerKv = old
      ? { k: tf.keep(tf.concat([old.k, k], k.rank - 2)), v: tf.keep(tf.concat([old.v, v], v.rank - 2)) }
      : { k: tf.keep(k.clone()), v: tf.keep(v.clone()) };
    this.pending[layer] = next;
    return next as { k: T; v: T };
  }

  /** Layer `layer`'s cached keys and values (committed steps only); undefined before the first step. */
  cached(layer: number): { k: tf.Tensor; v: tf.Tensor } | undefined {
    return this.layers[layer];
  }

  /**
   * Stages keys and values already extended by this step's new tokens (a decoding graph that
   * concatenates them itself): kept, and committed or rolled back like extend()'s.
   */
  stage(layer: number, k: tf.Tensor, v: tf.Tensor): void {
    if (layer < 0 || layer >= this.numLayers) throw new Error(`internal: KV cache has ${this.numLayers} layers, got layer ${layer}`);
    if (this.pending[layer]) throw new Error(`internal: layer ${layer} extended twice in one step`);
    this.pending[layer] = { k: tf.keep(k), v: tf.keep(v) };
  }

  /**
   * Keeps only batch rows `rows` (of `batch`) and drops the first `dropFront` positions of every
   * row (left padding no kept row needs): a batched generation shrinking as its rows finish.
   * Every layout stores rows first ([B, kvHeads, T, hd] or [B·kvHeads, 1, T, hd]), so a row is
   * one contiguous slab of size/B values.
   */
  keepRows(rows: readonly number[], batch: number, dropFront = 0): void {
    if (this.pending.some((p) => p)) throw new Error('internal: KV cache rows changed during a step');
    if (dropFront < 0 || dropFront >= this.committed) throw new Error(`internal: cannot drop ${dropFront} of ${this.committed} cached positions`);
    const select = (t: tf.Tensor): tf.Tensor => {
      const [first, ...rest] = t.shape;
      let x = t.reshape([batch, -1]).gather(tf.tensor1d(Array.from(rows), 'int32')).reshape([(rows.length * first) / batch, ...rest]); // (B'·…, …, T, hd)
      if (dropFront > 0) {
        const begin = x.shape.map(() => 0);
        const size = x.shape.map((n) => n);
        begin[x.rank - 2] = dropFront; // time is the second-to-last axis
        size[x.rank - 2] -= dropFront;
        x = x.slice(begin, size);
      }
      return x;
    };
    for (let i = 0; i < this.numLayers; i++) {
      const old = this.layers[i];
      if (!old) continue;
      this.layers[i] = tf.tidy(() => ({ k: select(old.k), v: select(old.v) }));
      tf.dispose([old.k, old.v]);
    }
    this.committed -= dropFront;
  }

  /** Makes the staged step permanent: `newTokens` more positions are cached. */
  commit(newTokens: number): void {
    for (let i = 0; i < this.numLayers; i++) {
      const p = this.pending[i];
      if (!p) throw new Error(`internal: layer ${i} was not extended in this step`);
      const old = this.layers[i];
      if (old) tf.dispose([old.k, old.v]);
      this.layers[i] = p;
      this.pending[i] = undefined;
    }
    this.committed += newTokens;
  }

  /** Drops a staged step (after a failed forward pass). */
  rollback(): void {
    for (let i = 0; i < this.numLayers; i++) {
      const p = this.pending[i];
      if (p) tf.dispose([p.k, p.v]);
      this.pending[i] = undefined;
    }
  }

  dispose(): void {
    this.rollback();
    for (const l of this.layers) if (l) tf.dispose([l.k, l.v]);
    this.layers.fill(undefined);
    this.committed = 0;
    this.state?.value.dispose();
    this.state = undefined;
  }
}
