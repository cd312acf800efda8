// The top-r SVD for PiSSA (initDecomp.ts), in float64: the symmetric eigendecomposition (Householder
// tridiagonalisation + implicit QR with Wilkinson shifts, Golub & Van Loan §8.3; inverse iteration for
// a few vectors), the exact top-r SVD through the eigenvectors of the smaller Gram matrix, and
// torch.svd_lowrank's randomized subspace iteration for pissa_niter_N.
import type { Rng } from '../util/rng';
import { applyReflector, gram, householderQR, mat, matmul, transpose, type Mat } from './linalg64';

/**
 * Eigenvalues (descending) and the eigenvectors of the k largest (the columns of `vectors`, n × k) of a
 * symmetric matrix. Householder reduction to tridiagonal T = Qᵀ·G·Q, then implicit symmetric QR steps
 * with Wilkinson's shift on T. With k = n every rotation is also applied to Q (about 9n³ flops); with
 * k < n the QR steps find the eigenvalues alone and each of the k vectors comes from inverse iteration
 * on T (orthogonalised against the ones before, for close eigenvalues) and the stored reflectors,
 * which leaves the reduction's 4n³/3 as the cost: for n = 768 about 0.8 s instead of 6 s.
 */
export function symmetricEigen(g: Mat, k = g.rows): { values: Float64Array; vectors: Mat } {
  const n = g.rows;
  const full = k >= n;
  const { d, e, reflectors } = tridiagonalize(g);
  let qt: Mat | undefined;
  if (full) {
    // Qᵀ, so that the n rotations of each QR step update two contiguous rows: row j is Q's column j.
    qt = mat(n, n);
    for (let i = 0; i < n; i++) qt.data[i * n + i] = 1;
    for (let j = reflectors.length - 1; j >= 0; j--) {
      const { v, tau, from } = reflectors[j];
      for (let c = 0; c < n; c++) applyReflector(qt.data, c * n, 1, v, tau, from); // Q ← H_j·Q on column c (row c of Qᵀ)
    }
  }
  const [dd, ee] = [d.slice(), e.slice()];
  tridiagonalQR(dd, ee, qt);
  const order = [...dd.keys()].sort((x, y) => dd[y] - dd[x]);
  const values = Float64Array.from(order, (i) => dd[i]);
  const kk = Math.min(k, n);
  const vectors = mat(n, kk);
  if (qt) {
    for (let i = 0; i < n; i++) for (let c = 0; c < kk; c++) vectors.data[i * kk + c] = qt.data[order[c] * n + i];
    return { values, vectors };
  }
  const found: Float64Array[] = [];
  const scaleT = Math.max(...values.map(Math.abs), 1e-300);
  for (let c = 0; c < kk; c++) {
    const z = inverseIteration(d, e, values[c], scaleT, found);
    found.push(z.slice());
    // Back to G's basis: Q·z = H₀·H₁·…·z, the last reflector first.
    for (let j = reflectors.length - 1; j >= 0; j--) {
      const { v, tau, from } = reflectors[j];
      applyReflector(z, 0, 1, v, tau, from);
    }
    for (let i = 0; i < n; i++) vectors.data[i * kk + c] = z[i];
  }
  return { values, vectors };
}

/** Householder tridiagonalisation of a symmetric g: diagonal d, off-diagonal e, and the reflectors (v from index `from`). */
function tridiagonalize(g: Mat): { d: Float64Array; e: Float64Array; reflectors: { v: Float64Array; tau: number; from: number }[] } {
  const n = g.rows;
  const a = new Float64Array(g.data); // overwritten by the reduction
  const reflectors: { v: Float64Array; tau: number; from: number }[] = [];
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Reflector on rows/cols k+1..n−1 that zeroes a[k+2.., k].
    const alpha = a[(k + 1) * n + k];
    let xnorm2 = 0;
    for (let i = k + 2; i < n; i++) xnorm2 += a[i * n + k] ** 2;
    if (xnorm2 === 0) continue;
    const beta = -Math.sign(alpha || 1) * Math.sqrt(alpha * alpha + xnorm2);
    const tau = (beta - alpha) / beta;
    const v = new Float64Array(n - k - 1); // v[i − (k+1)]
    v[0] = 1;
    for (let i = k + 2; i < n; i++) v[i - k - 1] = a[i * n + k] / (alpha - beta);
    // A ← H·A·H with H = I − τvvᵀ: p = τ·A·v, w = p − (τ/2)(pᵀv)·v, A ← A − v·wᵀ − w·vᵀ (trailing block, upper half).
    const o = k + 1;
    for (let i = o; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = o; j < n; j++) s += a[row + j] * v[j - o];
      p[i] = tau * s;
    }
    let pv = 0;
    for (let i = o; i < n; i++) pv += p[i] * v[i - o];
    const c = 0.5 * tau * pv;
    for (let i = o; i < n; i++) p[i] -= c * v[i - o];
    for (let i = o; i < n; i++) {
      const [vi, pi, row] = [v[i - o], p[i], i * n];
      for (let j = i; j < n; j++) a[row + j] -= vi * p[j] + pi * v[j - o];
    }
    for (let i = o; i < n; i++) for (let j = i + 1; j < n; j++) a[j * n + i] = a[i * n + j];
    a[(k + 1) * n + k] = a[k * n + k + 1] = beta;
    for (let i = k + 2; i < n; i++) a[i * n + k] = a[k * n + i] = 0;
    reflectors.push({ v, tau, from: o });
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = a[i * n + i];
  for (let i = 0; i < n - 1; i++) e[i] = a[i * n + i + 1];
  return { d, e, reflectors };
}

/**
 * The eigenvector of the tridiagonal (d, e) for the eigenvalue λ: three steps of inverse iteration,
 * (T − λI)·x = x_prev by Gaussian elimination with partial pivoting (a zero pivot becomes ε·‖T‖),
 * each result orthogonalised against `previous` (Gram–Schmidt, twice) and normalised.
 */
function inverseIteration(d: Float64Array, e: Float64Array, lambda: number, scaleT: number, previous: Float64Array[]): Float64Array {
  const n = d.length;
  const tiny = Number.EPSILON * scaleT;
  // LU of T − λI: U's diagonal u0 and two superdiagonals u1, u2; multipliers l; row swaps piv.
  const [u0, u1, u2, l] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const piv = new Uint8Array(n);
  let [cd, cs, cs2] = [d[0] - lambda, n > 1 ? e[0] : 0, 0];
  for (let i = 0; i < n - 1; i++) {
    const [sub, nd, ns] = [e[i], d[i + 1] - lambda, i + 1 < n - 1 ? e[i + 1] : 0];
    if (Math.abs(cd) >= Math.abs(sub)) {
      if (cd === 0) cd = tiny;
      const m = sub / cd;
      [u0[i], u1[i], u2[i], l[i], piv[i]] = [cd, cs, cs2, m, 0];
      [cd, cs, cs2] = [nd - m * cs, ns - m * cs2, 0];
    } else {
      const m = cd / sub;
      [u0[i], u1[i], u2[i], l[i], piv[i]] = [sub, nd, ns, m, 1];
      [cd, cs, cs2] = [cs - m * nd, cs2 - m * ns, 0];
    }
  }
  u0[n - 1] = cd === 0 ? tiny : cd;
  let x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = 1 + ((i * 7919) % 97) / 97; // a fixed start with no special structure
  for (let it = 0; it < 3; it++) {
    for (let i = 0; i < n - 1; i++) {
      if (piv[i]) [x[i], x[i + 1]] = [x[i + 1], x[i] - l[i] * x[i + 1]];
      else x[i + 1] -= l[i] * x[i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i];
      if (i + 1 < n) s -= u1[i] * x[i + 1];
      if (i + 2 < n) s -= u2[i] * x[i + 2];
      x[i] = s / u0[i];
    }
    for (let pass = 0; pass < 2; pass++) {
      for (const q of previous) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[i] * x[i];
        for (let i = 0; i < n; i++) x[i] -= dot * q[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += x[i] * x[i];
    norm = Math.sqrt(norm);
    if (!(norm > 0) || !Number.isFinite(norm)) {
      x = new Float64Array(n);
      x[it % n] = 1; // degenerate: restart from a unit vector
      continue;
    }
    for (let i = 0; i < n; i++) x[i] /= norm;
  }
  return x;
}

/** Diagonalises the symmetric tridiagonal (d, e) in place, rotating the rows of qt (= Q's columns) along (Golub & Van Loan 8.3.3). */
function tridiagonalQR(d: Float64Array, e: Float64Array, qt?: Mat): void {
  const n = d.length;
  const eps = Number.EPSILON;
  let hi = n - 1;
  let iterations = 0;
  while (hi > 0) {
    // Deflate: split where the off-diagonal is negligible.
    if (Math.abs(e[hi - 1]) <= eps * (Math.abs(d[hi - 1]) + Math.abs(d[hi]))) {
      e[hi - 1] = 0;
      hi--;
      continue;
    }
    let lo = hi - 1;
    while (lo > 0 && Math.abs(e[lo - 1]) > eps * (Math.abs(d[lo - 1]) + Math.abs(d[lo]))) lo--;
    if (++iterations > 60 * n) throw new Error('internal: the symmetric eigendecomposition did not converge');
    // Wilkinson shift from the trailing 2×2 block.
    const delta = (d[hi - 1] - d[hi]) / 2;
    const b2 = e[hi - 1] * e[hi - 1];
    const mu = d[hi] - b2 / (delta + (delta >= 0 ? 1 : -1) * Math.sqrt(delta * delta + b2));
    let x = d[lo] - mu;
    let z = e[lo];
    for (let k = lo; k < hi; k++) {
      // Givens rotation [c s; −s c] zeroing z against x.
      const r = Math.hypot(x, z);
      const c = x / r;
      const s = -z / r;
      if (k > lo) e[k - 1] = r;
      const [dk, dk1, ek] = [d[k], d[k + 1], e[k]];
      d[k] = c * c * dk - 2 * c * s * ek + s * s * dk1;
      d[k + 1] = s * s * dk + 2 * c * s * ek + c * c * dk1;
      e[k] = c * s * (dk - dk1) + (c * c - s * s) * ek;
      if (k < hi - 1) {
        x = e[k];
        z = -s * e[k + 1];
        e[k + 1] *= c;
      }
      if (!qt) continue;
      const qd = qt.data;
      const [rk, rk1] = [k * qt.cols, (k + 1) * qt.cols];
      for (let i = 0; i < qt.cols; i++) {
        const [a, b] = [qd[rk + i], qd[rk1 + i]];
        qd[rk + i] = c * a - s * b;
        qd[rk1 + i] = s * a + c * b;
      }
    }
  }
}

/** Top-r singular triplets of a: U (m × r), S (r, descending), V (n × r), with a ≈ U·diag(S)·Vᵀ. */
export interface Svd {
  u: Mat;
  s: Float64Array;
  v: Mat;
}

/**
 * The exact top-r SVD of a (m × n) from the eigenvectors of its smaller Gram matrix (aᵀa when n ≤ m):
 * V's columns are the eigenvectors, σᵢ = ‖a·vᵢ‖ and uᵢ = a·vᵢ/σᵢ (and the mirror image when m < n).
 * Forming the Gram matrix squares the condition number, which costs accuracy only in singular values
 * far below σ₁; PiSSA keeps the largest r.
 */
export function svdTop(a: Mat, r: number): Svd {
  if (a.cols > a.rows) {
    const t = svdTop(transpose(a), r);
    return { u: t.v, s: t.s, v: t.u };
  }
  const v = symmetricEigen(gram(a), r).vectors; // (n, r)
  const u = matmul(a, v); // (m, r): columns σᵢ·uᵢ
  const s = new Float64Array(r);
  for (let c = 0; c < r; c++) {
    let ss = 0;
    for (let i = 0; i < a.rows; i++) ss += u.data[i * r + c] ** 2;
    s[c] = Math.sqrt(ss);
    const inv = s[c] > 0 ? 1 / s[c] : 0;
    for (let i = 0; i < a.rows; i++) u.data[i * r + c] *= inv;
  }
  return { u, s, v };
}

/**
 * torch.svd_lowrank(a, q=r, niter) (Halko, Martinsson & Tropp 2009, as torch/_lowrank.py): for a tall
 * a, a Gaussian (n × r) start, Q = qr(a·Ω), then niter rounds of Q = qr(aᵀQ), Q = qr(a·Q); finally the
 * SVD of the small Qᵀa. A wide a is transposed first. The start comes from `rng`, so the result
 * matches torch's only as a subspace (both approach the top-r singular subspace as niter grows).
 */
export function svdLowRank(a: Mat, r: number, niter: number, rng: Rng): Svd {
  if (a.rows < a.cols) {
    const t = svdLowRank(transpose(a), r, niter, rng);
    return { u: t.v, s: t.s, v: t.u };
  }
  const omega = mat(a.cols, r);
  for (let i = 0; i < omega.data.length; i++) omega.data[i] = rng.normal(0, 1);
  const at = transpose(a);
  let q = householderQR(matmul(a, omega)).q;
  for (let it = 0; it < niter; it++) {
    q = householderQR(matmul(at, q)).q;
    q = householderQR(matmul(a, q)).q;
  }
  const small = svdTop(matmul(transpose(q), a), Math.min(r, q.cols)); // (r × n) = U_B·S·Vᵀ
  return { u: matmul(q, small.u), s: small.s, v: small.v };
}
