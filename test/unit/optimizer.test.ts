// AdamW and clipping against PyTorch (scripts/gen_optim_golden.py: torch.optim.AdamW +
// clip_grad_norm_), and the learning-rate schedules against their closed forms.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm } from '../../src/core/train/optimizer';
import { learningRate } from '../../src/core/train/schedule';

const G = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'optim', 'adamw.json'), 'utf8'));

describe('AdamW', () => {
  it('four clipped steps equal torch.optim.AdamW within 1e-6', () => {
    const p = tf.variable(tf.tensor(G.p0, [3, 4]));
    const q = tf.variable(tf.tensor(G.q0, [5]));
    const opt = new AdamW([p, q], { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    G.grads.forEach(([gp, gq]: number[][], i: number) => {
      const { grads, norm } = clipByGlobalNorm([tf.tensor(gp, [3, 4]), tf.tensor(gq, [5])], 2.0);
      expect(norm).toBeCloseTo(G.norms[i], 5);
      opt.apply(grads, G.lrs[i]);
      tf.dispose(grads);
      const [ep, eq] = G.after[i];
      expect(Math.max(...Array.from(p.dataSync()).map((x, k) => Math.abs(x - ep[k])))).toBeLessThan(1e-6);
      expect(Math.max(...Array.from(q.dataSync()).map((x, k) => Math.abs(x - eq[k])))).toBeLessThan(1e-6);
    });
    opt.dispose();
    tf.dispose([p, q]);
  });

  it('state round-trips: restoring moments and step continues identically', () => {
    const mk = () => [tf.variable(tf.tensor(G.p0, [3, 4])), tf.variable(tf.tensor(G.q0, [5]))];
    const a = mk();
    const oa = new AdamW(a);
    const g = (i: number) => [tf.tensor(G.grads[i][0], [3, 4]), tf.tensor(G.grads[i][1], [5])];
    for (let i = 0; i < 2; i++) oa.apply(g(i), 0.01);
    const b = mk();
    b[0].assign(a[0]);
    b[1].assign(a[1]);
    const ob = new AdamW(b);
    ob.setState(oa.getState());
    for (let i = 2; i < 4; i++) {
      oa.apply(g(i), 0.01);
      ob.apply(g(i), 0.01);
    }
    expect(Array.from(b[0].dataSync())).toEqual(Array.from(a[0].dataSync()));
    expect(ob.stepCount).toBe(4);
  });
});

describe('learning-rate schedules', () => {
  const base = { baseLr: 1e-3, warmupSteps: 10, totalSteps: 110 };
  it('warmup rises linearly to the base rate at the last warmup step', () => {
    expect(learningRate({ ...base, kind: 'cosine' }, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate({ ...base, kind: 'cosine' }, 9)).toBeCloseTo(1e-3, 12);
  });
  it('linear decays to 0 at totalSteps; cosine is at half the rate halfway; constant stays', () => {
    expect(learningRate({ ...base, kind: 'linear' }, 60)).toBeCloseTo(5e-4, 12);
    expect(learningRate({ ...base, kind: 'linear' }, 110)).toBe(0);
    expect(learningRate({ ...base, kind: 'cosine' }, 60)).toBeCloseTo(5e-4, 12);
    expect(learningRate({ ...base, kind: 'cosine' }, 110)).toBeCloseTo(0, 12);
    expect(learningRate({ ...base, kind: 'constant' }, 100)).toBe(1e-3);
  });
});
