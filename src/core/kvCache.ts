// Per-layer key/value cache for incremental decoding: each forward step appends the keys and
// values of its new tokens, so generating one token costs one token's forward pass instead of
// recomputing the whole prefix. Updates are staged and committed only when the whole forward
// pass succeeds, so a failed step leaves the cache as it was.
import * as tf from '@tensorflow/tfjs';

interface LayerKv {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

export class KvCache {
  private layers: (LayerKv | undefined)[];
  private pending: (LayerKv | undefined)[];
  private committed = 0;

  constructor(readonly numLayers: number) {
    this.layers = new Array<LayerKv | undefined>(numLayers).fill(undefined);
    this.pending = new Array<LayerKv | undefined>(numLayers).fill(undefined);
  }

  /** Tokens whose keys and values are cached (the position of the next token). */
  get length(): number {
    return this.committed;
  }

  /**
   * Keys and values of layer `layer` for all positions so far plus the new ones ([B, kvHeads, T, hd],
   * time on axis 2). The result is kept (it survives the caller's tf.tidy) and staged until commit().
   */
  extend(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): LayerKv {
    if (layer < 0 || layer >= this.numLayers) throw new Error(`internal: KV cache has ${this.numLayers} layers, got layer ${layer}`);
    if (this.pending[layer]) throw new Error(`internal: layer ${layer} extended twice in one step`);
    const old = this.layers[layer];
    const next: LayerKv = old
      ? { k: tf.keep(tf.concat([old.k, k], 2)), v: tf.keep(tf.concat([old.v, v], 2)) }
      : { k: tf.keep(k.clone()), v: tf.keep(v.clone()) };
    this.pending[layer] = next;
    return next;
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
  }
}
