// Float64 dense linear algebra for the decomposition-based LoRA initialisations (initDecomp.ts):
// row-major matrices, products, the Gram matrix, Householder reflectors and QR (LAPACK's sign
// convention, so OLoRA's factors come out as torch.linalg.qr's). The eigendecomposition and the SVDs
// are svd64.ts's. Plain TypeScript on purpose: these run once per adapted layer at initialisation,
// in float64, and tfjs has neither float64 nor an SVD.

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

/** aᵀ·a (cols × cols), symmetric: the upper triangle from four rows of a at a time (a quarter of the passes over it), then mirrored. */
export function gram(a: Mat): Mat {
  const n = a.cols;
  const g = mat(n, n);
  const d = a.data;
  let r = 0;
  for (; r + 4 <= a.rows; r += 4) {
    const [o0, o1, o2, o3] = [r * n, (r + 1) * n, (r + 2) * n, (r + 3) * n];
    for (let i = 0; i < n; i++) {
      const [x0, x1, x2, x3] = [d[o0 + i], d[o1 + i], d[o2 + i], d[o3 + i]];
      const gi = i * n;
      for (let j = i; j < n; j++) g.data[gi + j] += x0 * d[o0 + j] + x1 * d[o1 + j] + x2 * d[o2 + j] + x3 * d[o3 + j];
    }
  }
  for (; r < a.rows; r++) {
    const o = r * n;
    for (let i = 0; i < n; i++) {
      const x = d[o + i];
      const gi = i * n;
      for (let j = i; j < n; j++) g.data[gi + j] += x * d[o + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g.data[i * n + j] = g.data[j * n + i];
  return g;
}

/**
 * Thin Householder QR of a (m × n): Q (m × k) with orthonormal columns and upper-triangular R (k × n),
 * k = min(m, n); with `first`, only Q's first columns and R's first rows (k = first), which need only
 * the first `first` reflectors (later ones leave them unchanged): OLoRA's Q[:, :r] and R[:r] cost
 * O(m·n·r). Each reflector follows LAPACK's dlarfg: R's diagonal entry is −sign(α)·‖x‖, and a column
 * already zero below the diagonal gets no reflection; torch.linalg.qr (geqrf + orgqr) does the same.
 * Columns are held contiguous (column-major) so each reflection runs along memory.
 */
export function householderQR(a: Mat, first = Math.min(a.rows, a.cols)): { q: Mat; r: Mat } {
  const { rows: m, cols: n } = a;
  const k = Math.min(first, m, n);
  const cols = transpose(a).data; // column c at c·m
  const vs: Float64Array[] = [];
  const taus: number[] = [];
  for (let j = 0; j < k; j++) {
    const cj = j * m;
    const alpha = cols[cj + j];
    let xnorm2 = 0;
    for (let i = j + 1; i < m; i++) xnorm2 += cols[cj + i] ** 2;
    const v = new Float64Array(m - j);
    v[0] = 1;
    if (xnorm2 === 0) {
      vs.push(v);
      taus.push(0);
      continue;
    }
    const beta = -Math.sign(alpha || 1) * Math.sqrt(alpha * alpha + xnorm2);
    const tau = (beta - alpha) / beta;
    for (let i = j + 1; i < m; i++) v[i - j] = cols[cj + i] / (alpha - beta);
    // Apply H = I − τ·v·vᵀ to the remaining columns.
    for (let c = j; c < n; c++) applyReflector(cols, c * m, 1, v, tau, j);
    vs.push(v);
    taus.push(tau);
  }
  const r = mat(k, n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) r.data[i * n + c] = cols[c * m + i];
  // Q's first k columns: H₀·…·H_{k−1}·e_c, the last reflector first (column-major, then transposed).
  const qc = new Float64Array(k * m);
  for (let c = 0; c < k; c++) qc[c * m + c] = 1;
  for (let j = k - 1; j >= 0; j--) {
    if (taus[j] === 0) continue;
    for (let c = j; c < k; c++) applyReflector(qc, c * m, 1, vs[j], taus[j], j);
  }
  return { q: transpose(mat(k, m, qc)), r };
}

/** x[off + i·stride] for i ≥ from ← (I − τ·v·vᵀ)·x, where v is indexed from `from`. */
export function applyReflector(x: Float64Array, off: number, stride: number, v: Float64Array, tau: number, from: number): void {
  let dot = 0;
  for (let i = 0; i < v.length; i++) dot += v[i] * x[off + (from + i) * stride];
  dot *= tau;
  for (let i = 0; i < v.length; i++) x[off + (from + i) * stride] -= dot * v[i];
}
