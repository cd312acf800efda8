// Reads named tensors of a checkpoint into float32 tfjs tensors with shape checks, and keeps
// track of what was used so unexpected tensors can be reported instead of silently ignored.
import * as tf from '@tensorflow/tfjs';

/** The part of WeightStore the models need (a test can hand in a Map-backed source). */
export interface TensorSource {
  names(): string[];
  has(name: string): boolean;
  info(name: string): { shape: number[] };
  readFloat32(name: string): Float32Array;
}

export class WeightReader {
  private used = new Set<string>();

  constructor(
    readonly source: TensorSource,
    /** Where the tensors come from, for error messages (the model folder). */
    readonly where: string,
    /** Prefix of every key in this checkpoint ('' or e.g. 'transformer.'). */
    readonly prefix = '',
  ) {}

  has(name: string): boolean {
    return this.source.has(this.prefix + name);
  }

  /** Reads `prefix + name`, checking its shape; the caller owns the tensor. */
  read(name: string, shape: number[]): tf.Tensor {
    const key = this.prefix + name;
    if (!this.source.has(key)) {
      throw new Error(`${this.where}: tensor "${key}" is missing from the checkpoint (is this the right model folder for its config.json?)`);
    }
    const found = this.source.info(key).shape;
    if (found.length !== shape.length || found.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.where}: tensor "${key}" has shape [${found.join(', ')}], config.json implies [${shape.join(', ')}]; the weights and config.json come from different models or a broken conversion: download both from one source.`);
    }
    this.used.add(key);
    return tf.tensor(this.source.readFloat32(key), shape, 'float32');
  }

  read1d(name: string, n: number): tf.Tensor1D {
    return this.read(name, [n]) as tf.Tensor1D;
  }

  read2d(name: string, rows: number, cols: number): tf.Tensor2D {
    return this.read(name, [rows, cols]) as tf.Tensor2D;
  }

  /** nn.Linear weight stored (out, in), returned as (in, out) for x·W. */
  readLinearInOut(name: string, inF: number, outF: number): tf.Tensor2D {
    const w = this.read2d(name, outF, inF);
    const t = w.transpose() as tf.Tensor2D;
    w.dispose();
    return t;
  }

  markIgnored(key: string): void {
    this.used.add(key);
  }

  /** Checkpoint tensors that nothing read (after ignoring known buffers). */
  unused(): string[] {
    return this.source.names().filter((n) => !this.used.has(n));
  }
}
