// Number, duration and date formatting for the results panel. Pure (no DOM), unit-tested.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 294912 → "294,912". */
export function fmtInt(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? intFmt.format(n) : '–';
}

/** A loss or perplexity: 4 significant digits, plain notation for the usual range. */
export function fmtLoss(n: number | null | undefined): string {
  if (typeof n !== 'number') return '–';
  if (!Number.isFinite(n)) return String(n);
  if (n !== 0 && (Math.abs(n) >= 1e5 || Math.abs(n) < 1e-3)) return n.toExponential(3);
  return n.toPrecision(4).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** Percentages as PEFT prints them (4 decimals): 0.2364. */
export function fmtPercent(n: number, digits = 4): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

/** 1234567 → "1.23M": compact counts for axes and throughput; thousands as "k" from `kFrom` on. */
export function fmtCompact(n: number | null | undefined, kFrom = 1e4): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}B`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= kFrom && a >= 1e3) return `${trim(n / 1e3)}k`;
  return Number.isInteger(n) ? String(n) : trim(n);
}

function trim(n: number): string {
  return n.toPrecision(3).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** Milliseconds → "1h 02m", "3m 12s", "45s", "0.8s". */
export function fmtDuration(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m ${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** An ISO date → "2024-05-01 14:03" in local time; the input back when it does not parse. */
export function fmtDate(iso: string | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Any value of an evaluation report, for display. */
export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) >= 1000 ? fmtInt(v) : fmtLoss(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  try {
    const s = JSON.stringify(v);
    return s.length > 200 ? `${s.slice(0, 199)}…` : s;
  } catch {
    return String(v);
  }
}

/** The last path segment ("/a/b/data.jsonl" → "data.jsonl"), for both separators. */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : p;
}
