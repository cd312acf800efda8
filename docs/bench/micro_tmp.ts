import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/core/backend';
import * as f from '../../src/core/backend/fusedOps';
async function main() {
  await initBackend('tensorflow', {});
  const x = tf.randomNormal([512, 3072]) as tf.Tensor2D;
  const g = tf.randomNormal([512, 3072]) as tf.Tensor2D;
  const time = (name: string, fn: () => tf.Tensor) => {
    const ts: number[] = [];
    for (let i = 0; i < 100; i++) { const t0 = performance.now(); const o = fn(); ts.push(performance.now() - t0); tf.dispose(o); }
    ts.sort((p, q) => p - q);
    console.log(`${name.padEnd(30)} median ${(ts[50] * 1000).toFixed(0)} µs min ${(ts[0] * 1000).toFixed(0)}`);
  };
  for (let r = 0; r < 2; r++) {
    time('gelu', () => f.fusedGeluNew(x));
    time('gelu grad', () => f.fusedGeluNewGrad(g, x));
    time('swiglu', () => f.fusedSwiGlu(x, g));
    time('tf tanh', () => tf.tanh(x));
  }
}
main();
