// What the file readers hand to row validation: one item per row (an object, or the reason it
// could not be read), plus the header of a CSV/TSV file; and small helpers on JSON values.

export type RawItem =
  | { kind: 'header'; line: number; names: string[] }
  | { kind: 'row'; line: number; value: Record<string, unknown> }
  | { kind: 'bad'; line: number; reason: string };

/** "a string", "an array", "null": how a JSON value's type reads in a message. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'undefined':
      return 'nothing';
    default:
      return `a ${typeof value}`;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
