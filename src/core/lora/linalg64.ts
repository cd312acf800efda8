// Float64 dense linear algebra for the decomposition-based LoRA initialisations (initDecomp.ts):
// Householder QR (LAPACK's sign convention, so OLoRA's factors come out as torch.linalg.qr's), the
// symmetric eigendecomposition (Householder tridiagonalisation + implicit QR with Wilkinson shifts,
// Golub & Van Loan §8.3), the top-r SVD through the eigenvectors of the smaller Gram matrix, and
// torch.svd_lowrank's randomized subspace iteration. Matrices are row-major Float64Arrays.
// Plain TypeScript on purpose: these run once per adapted layer at initialisation, in float64,
// and tfjs has neither float64 nor an SVD.
import type { Rng } from '../util/rng';

/** A row-major matrix. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export const mat = (rows: number, cols: number, data = new Float64Array(rows * cols)): Mat => ({ rows, cols, data });

export function transpose(a: Mat): Mat {
  const t = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

/** a·b, i-k-j order so the inner loop runs along rows of both b and the result. */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`internal: matmul ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  const c = mat(a.rows, b.cols);
  const [n, p] = [a.cols, b.cols];
  for (let i = 0; i < a.rows; i++) {
    const ci = i * p;
    for (let k = 0; k < n; k++) {
      const aik = a.data[i * n + k];
      if (aik === 0) continue;
      const bk = k * p;
      for (let j = 0; j < p; j++) c.data[ci + j] += aik * b.data[bk + j];
    }
  }
  return c;
}

/** aᵀ·a (cols × cols), symmetric: the upper triangle is computed from rows of a, then mirrored. */
export function gram(a: Mat): Mat {
  const n = a.cols;
  const g = mat(n, n);
  for (let r = 0; r < a.rows; r++) {
    const row = a.data.subarray(r * n, (r + 1) * n);
    for (let i = 0; i < n; i++) {
      const x = row[i];
      if (x === 0) continue;
      const gi = i * n;
      for (let j = i; j < n; j++) g.data[gi + j] += x * row[j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g.data[i * n + j] = g.data[j * n + i];
  return g;
}

/**
 * Thin Householder QR of a (m × n): Q (m × k) with orthonormal columns and upper-triangular R (k × n),
 * k = min(m, n). Each reflector follows LAPACK's dlarfg: R's diagonal entry is −sign(α)·‖x‖, and a column
 * already zero below the diagonal gets no reflection; torch.linalg.qr (geqrf + orgqr) does the same.
 */
export function householderQR(a: Mat): { q: Mat; r: Mat } {
  const { rows: m, cols: n } = a;
  const k = Math.min(m, n);
  const w = new Float64Array(a.data);
  const vs: Float64Array[] = [];
  const taus: number[] = [];
  for (let j = 0; j < k; j++) {
    const alpha = w[j * n + j];
    let xnorm2 = 0;
    for (let i = j + 1; i < m; i++) xnorm2 += w[i * n + j] ** 2;
    const v = new Float64Array(m - j);
    v[0] = 1;
    if (xnorm2 === 0) {
      vs.push(v);
      taus.push(0);
      continue;
    }
    const beta = -Math.sign(alpha || 1) * Math.sqrt(alpha * alpha + xnorm2);
    const tau = (beta - alpha) / beta;
    for (let i = j + 1; i < m; i++) v[i - j] = w[i * n + j] / (alpha - beta);
    // Apply H = I − τ·v·vᵀ to the remaining columns.
    for (let c = j; c < n; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * w[i * n + c];
      dot *= tau;
      for (let i = j; i < m; i++) w[i * n + c] -= dot * v[i - j];
    }
    vs.push(v);
    taus.push(tau);
  }
  const r = mat(k, n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) r.data[i * n + c] = w[i * n + c];
  // Q = H₀·H₁·…·H_{k−1} applied to the first k columns of the identity, last reflector first.
  const q = mat(m, k);
  for (let i = 0; i < k; i++) q.data[i * k + i] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const [v, tau] = [vs[j], taus[j]];
    if (tau === 0) continue;
    for (let c = j; c < k; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * q.data[i * k + c];
      dot *= tau;
      for (let i = j; i < m; i++) q.data[i * k + c] -= dot * v[i - j];
    }
  }
  return { q, r };
}

/**
 * Eigenvalues (descending) and eigenvectors (the columns of `vectors`, n × n) of a symmetric matrix.
 * Householder reduction to tridiagonal T = Qᵀ·G·Q, then implicit symmetric QR steps with Wilkinson's
 * shift on T, every Givens rotation also applied to Q's columns.
 */
export function symmetricEigen(g: Mat): { values: Float64Array; vectors: Mat } {
  const n = g.rows;
  const a = new Float64Array(g.data); // overwritten by the reduction
  // Qᵀ, so that the n rotations of each QR step update two contiguous rows: row j is Q's column j.
  const qt = mat(n, n);
  for (let i = 0; i < n; i++) qt.data[i * n + i] = 1;
  const s64 = new Float64Array(n);
  const d = new Float64Array(n); // diagonal of T
  const e = new Float64Array(n); // e[i] = T[i, i+1]
  const p = new Float64Array(n);
  const v = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Reflector on rows/cols k+1..n−1 that zeroes a[k+2.., k].
    const alpha = a[(k + 1) * n + k];
    let xnorm2 = 0;
    for (let i = k + 2; i < n; i++) xnorm2 += a[i * n + k] ** 2;
    if (xnorm2 === 0) continue;
    const beta = -Math.sign(alpha || 1) * Math.sqrt(alpha * alpha + xnorm2);
    const tau = (beta - alpha) / beta;
    v.fill(0);
    v[k + 1] = 1;
    for (let i = k + 2; i < n; i++) v[i] = a[i * n + k] / (alpha - beta);
    // A ← H·A·H with H = I − τvvᵀ: p = τ·A·v, w = p − (τ/2)(pᵀv)·v, A ← A − v·wᵀ − w·vᵀ (trailing block).
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[i * n + j] * v[j];
      p[i] = tau * s;
    }
    let pv = 0;
    for (let i = k + 1; i < n; i++) pv += p[i] * v[i];
    const c = 0.5 * tau * pv;
    for (let i = k + 1; i < n; i++) p[i] -= c * v[i];
    for (let i = k + 1; i < n; i++) {
      const [vi, pi, row] = [v[i], p[i], i * n];
      for (let j = i; j < n; j++) a[row + j] -= vi * p[j] + pi * v[j];
      for (let j = i + 1; j < n; j++) a[j * n + i] = a[row + j];
    }
    a[(k + 1) * n + k] = a[k * n + k + 1] = beta;
    for (let i = k + 2; i < n; i++) a[i * n + k] = a[k * n + i] = 0;
    // Q ← Q·H: (Qᵀ)[j, i] −= τ·vⱼ·(Σ_l (Qᵀ)[l, i]·v_l).
    s64.fill(0);
    for (let j = k + 1; j < n; j++) {
      const vj = v[j];
      const row = j * n;
      for (let i = 0; i < n; i++) s64[i] += qt.data[row + i] * vj;
    }
    for (let j = k + 1; j < n; j++) {
      const tv = tau * v[j];
      const row = j * n;
      for (let i = 0; i < n; i++) qt.data[row + i] -= tv * s64[i];
    }
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i];
  for (let i = 0; i < n - 1; i++) e[i] = a[i * n + i + 1];
  tridiagonalQR(d, e, qt);
  const order = [...d.keys()].sort((x, y) => d[y] - d[x]);
  const vectors = mat(n, n);
  for (let i = 0; i < n; i++) for (let c = 0; c < n; c++) vectors.data[i * n + c] = qt.data[order[c] * n + i];
  return { values: Float64Array.from(order, (i) => d[i]), vectors };
}

/** Diagonalises the symmetric tridiagonal (d, e) in place, rotating the rows of qt (= Q's columns) along (Golub & Van Loan 8.3.3). */
function tridiagonalQR(d: Float64Array, e: Float64Array, qt: Mat): void {
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
  const { vectors } = symmetricEigen(gram(a));
  const n = a.cols;
  const v = mat(n, r);
  for (let i = 0; i < n; i++) for (let c = 0; c < r; c++) v.data[i * r + c] = vectors.data[i * n + c];
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
