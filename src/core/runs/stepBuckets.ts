// The step rows of a long run thinned for the loss chart in fixed memory (used by metricsView.ts):
// the last `tail` rows as they are (a ring), and every older row folded into buckets of steps that
// keep only their rows of lowest and highest loss (min/max decimation, so a spike survives) plus
// the very first row. When a step falls past the last bucket, the bucket width doubles and
// neighbours merge pairwise, so the bucket count, and memory, stay bounded whatever the file size.
// A row is known here by where it lies in the file (offset, length, line) and the running sum of
// the tokens of the step rows up to it; the caller reads the kept rows back.

/** One step row, by position: what the caller needs to read it back and to carry the tokens of thinned rows. */
export interface StepRef {
  /** Byte offset and length of its line in metrics.jsonl. */
  offset: number;
  length: number;
  /** 1-based line number. */
  line: number;
  /** 0-based index among the step rows of the file. */
  ordinal: number;
  /** Sum of the `tokens` of the step rows up to and including this one, in file order. */
  cumTokens: number;
}

// Fields of one kept row in the flat Float64Arrays below.
const OFFSET = 0;
const LENGTH = 1;
const LINE = 2;
const ORDINAL = 3;
const CUM = 4;
const LOSS = 5;
const STEP = 6;
const FIELDS = 7;

/** Whether loss `a` is lower than `b`: non-finite losses are never the lowest. */
const lower = (a: number, b: number) => Number.isFinite(a) && (!Number.isFinite(b) || a < b);
/** Whether loss `a` is higher than `b`: a non-finite loss (the run diverged) counts as the highest; the first one stays. */
const higher = (a: number, b: number) => Number.isFinite(b) && (!Number.isFinite(a) || a > b);

export class StepBuckets {
  private readonly buckets: number;
  private readonly tailCap: number;
  /** Per bucket: its min row then its max row (FIELDS each); `filled[k]` says whether bucket k has rows. */
  private readonly reps: Float64Array;
  private readonly filled: Uint8Array;
  /** The ring of the last rows: `ringSize` rows ending before `ringHead`. */
  private readonly ring: Float64Array;
  private ringHead = 0;
  private ringSize = 0;
  private readonly first = new Float64Array(FIELDS);
  private hasFirst = false;
  private origin = 0;
  private width = 1;
  /** Rows folded into buckets (out of the ring). */
  private folded = 0;
  /** Step rows seen. */
  count = 0;

  /** `buckets` (even, ≥ 2) bounds the thinned part at 2·buckets + 1 rows; `tail` rows are kept whole. */
  constructor(buckets: number, tail: number) {
    this.buckets = Math.max(2, buckets - (buckets % 2));
    this.tailCap = Math.max(1, tail);
    this.reps = new Float64Array(this.buckets * 2 * FIELDS);
    this.filled = new Uint8Array(this.buckets);
    this.ring = new Float64Array(this.tailCap * FIELDS);
  }

  /** The next step row of the file: its step, loss and position (see StepRef); positional, as this runs once per row. */
  add(step: number, loss: number, offset: number, length: number, line: number, ordinal: number, cumTokens: number): void {
    if (this.ringSize === this.tailCap) {
      this.fold(((this.ringHead - this.ringSize + this.tailCap) % this.tailCap) * FIELDS);
      this.ringSize--;
    }
    const r = this.ring;
    const at = this.ringHead * FIELDS;
    r[at + OFFSET] = offset;
    r[at + LENGTH] = length;
    r[at + LINE] = line;
    r[at + ORDINAL] = ordinal;
    r[at + CUM] = cumTokens;
    r[at + LOSS] = loss;
    r[at + STEP] = step;
    this.ringHead = (this.ringHead + 1) % this.tailCap;
    this.ringSize++;
    this.count++;
  }

  /** The ring's row at `at` leaves the ring into its bucket of steps (the first row of the file is also kept apart). */
  private fold(at: number): void {
    const ring = this.ring;
    const step = ring[at + STEP];
    if (!this.hasFirst) {
      this.first.set(ring.subarray(at, at + FIELDS));
      this.hasFirst = true;
      this.origin = step;
    }
    this.folded++;
    let k = Math.max(0, Math.floor((step - this.origin) / this.width));
    while (k >= this.buckets) {
      this.widen();
      k = Math.max(0, Math.floor((step - this.origin) / this.width));
    }
    const min = k * 2 * FIELDS;
    const max = min + FIELDS;
    if (!this.filled[k]) {
      copy(ring, at, this.reps, min);
      copy(ring, at, this.reps, max);
      this.filled[k] = 1;
      return;
    }
    const loss = ring[at + LOSS];
    if (lower(loss, this.reps[min + LOSS])) copy(ring, at, this.reps, min);
    if (higher(loss, this.reps[max + LOSS])) copy(ring, at, this.reps, max);
  }

  /** Doubles the bucket width: buckets 2j and 2j+1 become bucket j (their lowest and highest rows). */
  private widen(): void {
    this.width *= 2;
    const half = this.buckets / 2;
    for (let j = 0; j < half; j++) {
      const a = 2 * j;
      const b = a + 1;
      const to = j * 2 * FIELDS;
      if (!this.filled[a] && !this.filled[b]) {
        this.filled[j] = 0;
        continue;
      }
      const src = this.filled[a] ? a : b;
      const other = this.filled[a] && this.filled[b] ? b : -1;
      // Copy the pair of `src` first (j ≤ a, so nothing unread is overwritten), then compare with `other`.
      this.reps.copyWithin(to, src * 2 * FIELDS, (src + 1) * 2 * FIELDS);
      if (other >= 0) {
        const oMin = other * 2 * FIELDS;
        const oMax = oMin + FIELDS;
        if (lower(this.reps[oMin + LOSS], this.reps[to + LOSS])) this.reps.copyWithin(to, oMin, oMin + FIELDS);
        if (higher(this.reps[oMax + LOSS], this.reps[to + FIELDS + LOSS])) this.reps.copyWithin(to + FIELDS, oMax, oMax + FIELDS);
      }
      this.filled[j] = 1;
    }
    this.filled.fill(0, half);
  }

  /** The step of the oldest row of the tail, when rows were folded before it. */
  tailFromStep(): number | undefined {
    if (this.folded === 0 || this.ringSize === 0) return undefined;
    return this.ring[((this.ringHead - this.ringSize + this.tailCap) % this.tailCap) * FIELDS + STEP];
  }

  /** The rows kept (first, each bucket's lowest and highest, the tail), each once, in file order. */
  kept(): StepRef[] {
    const out = new Map<number, StepRef>();
    const take = (a: Float64Array, at: number) => {
      if (!out.has(a[at + OFFSET])) out.set(a[at + OFFSET], read(a, at));
    };
    if (this.hasFirst) take(this.first, 0);
    for (let k = 0; k < this.buckets; k++) {
      if (!this.filled[k]) continue;
      take(this.reps, k * 2 * FIELDS);
      take(this.reps, k * 2 * FIELDS + FIELDS);
    }
    for (let i = 0; i < this.ringSize; i++) take(this.ring, ((this.ringHead - this.ringSize + i + this.tailCap) % this.tailCap) * FIELDS);
    return [...out.values()].sort((a, b) => a.offset - b.offset);
  }
}

function copy(from: Float64Array, at: number, to: Float64Array, dest: number): void {
  for (let i = 0; i < FIELDS; i++) to[dest + i] = from[at + i];
}

function read(a: Float64Array, at: number): StepRef {
  return { offset: a[at + OFFSET], length: a[at + LENGTH], line: a[at + LINE], ordinal: a[at + ORDINAL], cumTokens: a[at + CUM] };
}
