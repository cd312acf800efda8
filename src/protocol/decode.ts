// A small hand-written decoding kit for what crosses a boundary (a webview message, a line of
// metrics.jsonl, run.json, eval.json): one function per type reads an `unknown` field by field
// and returns the typed value or the reason it is not one ("loss" is "abc", expected a number).
// No dependency, no casts: the decoders build their values from checked fields. Pure: the webview
// bundle and the worker can use it.

/** The same shape as src/protocol/worker.ts's Decoded: the value, or the reason (`error`) it is not one. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };
export type Decoder<T> = (v: unknown) => Decoded<T>;

/** Thrown by the field readers below; `decoder()` turns it into `{ ok: false, error }`. */
export class DecodeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DecodeError';
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as a reason shows it: JSON, cut short; `missing` for undefined. */
export function show(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** Throws the reason: `"path" is <value>, expected <what>` (the path '' is the top level). */
export function fail(path: string, v: unknown, expected: string): never {
  throw new DecodeError(`${path ? `"${path}"` : 'the top level'} is ${show(v)}, expected ${expected}`);
}

/** Wraps a throwing reader (built from Fields) into a Decoder. */
export function decoder<T>(read: (v: unknown) => T): Decoder<T> {
  return (v) => {
    try {
      return { ok: true, value: read(v) };
    } catch (e) {
      if (e instanceof DecodeError) return { ok: false, error: e.message };
      throw e;
    }
  };
}

/** Reads the fields of one object; every reader throws a DecodeError naming the field's path. */
export class Fields {
  private constructor(
    readonly raw: Record<string, unknown>,
    private readonly path: string,
  ) {}

  /** `path` is where the object sits ('' for the top level), the prefix of its fields' paths. */
  static of(v: unknown, path: string): Fields {
    if (!isRecord(v)) fail(path, v, 'an object');
    return new Fields(v, path);
  }

  at(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  has(k: string): boolean {
    return this.raw[k] !== undefined;
  }

  /** A number, NaN and ±Infinity included (metrics.jsonl restores them; a diverged loss is one). */
  num(k: string): number {
    const v = this.raw[k];
    return typeof v === 'number' ? v : fail(this.at(k), v, 'a number');
  }
  optNum(k: string): number | undefined {
    return this.has(k) ? this.num(k) : undefined;
  }
  /** A whole number ≥ 0 (ids, counts, steps). */
  index(k: string): number {
    const v = this.raw[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fail(this.at(k), v, 'a whole number ≥ 0');
  }
  str(k: string): string {
    const v = this.raw[k];
    return typeof v === 'string' ? v : fail(this.at(k), v, 'a string');
  }
  optStr(k: string): string | undefined {
    return this.has(k) ? this.str(k) : undefined;
  }
  bool(k: string): boolean {
    const v = this.raw[k];
    return typeof v === 'boolean' ? v : fail(this.at(k), v, 'true or false');
  }
  optBool(k: string): boolean | undefined {
    return this.has(k) ? this.bool(k) : undefined;
  }
  /** One of the given string literals. */
  oneOf<T extends string | number>(k: string, allowed: readonly T[]): T {
    const v = this.raw[k];
    const found = allowed.find((a) => a === v);
    return found !== undefined ? found : fail(this.at(k), v, `one of ${allowed.join(', ')}`);
  }
  obj(k: string): Fields {
    return Fields.of(this.raw[k], this.at(k));
  }
  optObj(k: string): Fields | undefined {
    return this.has(k) ? this.obj(k) : undefined;
  }
  /** An array, each item read by `item` with its index in the path. */
  list<T>(k: string, item: (v: unknown, path: string) => T): T[] {
    const v = this.raw[k];
    if (!Array.isArray(v)) fail(this.at(k), v, 'an array');
    return v.map((x, i) => item(x, `${this.at(k)}[${i}]`));
  }
  strings(k: string): string[] {
    return this.list(k, (x, p) => (typeof x === 'string' ? x : fail(p, x, 'a string')));
  }
  numbers(k: string): number[] {
    return this.list(k, (x, p) => (typeof x === 'number' ? x : fail(p, x, 'a number')));
  }
}
