// What the editor offers in a `*.evals.jsonl` line, read from schemas/evals.schema.json (the one
// place a case's keys, types and descriptions are written): the keys an object may hold with their
// descriptions and an insert snippet built from their type, and the values a key takes (an enum,
// a constant, the shape of an object or a list). The schema is passed in (the host bundles the
// JSON file), so this stays pure and testable; cursor.ts says where in the line the cursor is.

/** The part of JSON Schema (draft-07) the case schema uses. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  /** Used for "either this key or that one" ({"required": [a], "not": {"required": [b]}}). */
  oneOf?: JsonSchema[];
  not?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
}

/** A key or value to offer: `insert` is a VS Code snippet (tab stops $1, ${1:placeholder}, ${1|a,b|}). */
export interface Offer {
  label: string;
  /** The type, in a few words ("string", "number", "true", "one of …"). */
  detail: string;
  /** Markdown, from the schema's description. */
  documentation: string;
  insert: string;
}

/** Placeholders for values the schema gives no default or example for: a typical value, selected so typing replaces it. */
const TYPICAL: Record<string, number | string> = { maxLoss: 2.5, temperature: 0.7, flags: 'i' };

/** The alternatives of a schema (itself, or those of its anyOf). */
const alternatives = (s: JsonSchema): JsonSchema[] => (s.anyOf ? s.anyOf.flatMap(alternatives) : [s]);
const typesOf = (s: JsonSchema): string[] => (s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type]);

/** The schema of the value at `path` (keys through properties, indices through items, anyOf alternatives searched in order). */
export function schemaAt(schema: JsonSchema, path: readonly (string | number)[]): JsonSchema | undefined {
  let cur: JsonSchema[] = [schema];
  for (const step of path) {
    cur = cur.flatMap(alternatives).flatMap((s) => {
      if (typeof step === 'number') return s.items ? [s.items] : [];
      const p = s.properties?.[step];
      return p ? [p] : [];
    });
    if (cur.length === 0) return undefined;
  }
  return cur.length === 1 ? cur[0] : { anyOf: cur };
}

/** The object alternative of the schema at `path` (the one with properties), if any. */
export function objectSchemaAt(schema: JsonSchema, path: readonly (string | number)[]): JsonSchema | undefined {
  const s = schemaAt(schema, path);
  return s && alternatives(s).find((a) => a.properties);
}

const escapeSnippet = (s: string): string => s.replace(/[\\$}]/g, (c) => `\\${c}`);
const escapeChoice = (s: string): string => s.replace(/[\\$}|,]/g, (c) => `\\${c}`);

/** Numbers tab stops in order through a nested snippet. */
class Stops {
  private n = 0;
  next(): number {
    return ++this.n;
  }
}

/** A snippet of a value of schema `s` (named `key`, for TYPICAL): a list is preferred where the schema allows one or many. */
function valueSnippet(s: JsonSchema, key: string, stops: Stops): string {
  const alts = alternatives(s);
  const pick = alts.find((a) => typesOf(a).includes('array')) ?? alts[0];
  if (pick.const !== undefined) return JSON.stringify(pick.const);
  if (pick.enum) return `"\${${stops.next()}|${pick.enum.map((v) => escapeChoice(String(v))).join(',')}|}"`;
  const type = typesOf(pick)[0];
  const typical = pick.examples?.[0] ?? pick.default ?? TYPICAL[key];
  if (type === 'string') return typical === undefined ? `"$${stops.next()}"` : `"\${${stops.next()}:${escapeSnippet(String(typical))}}"`;
  if (type === 'number' || type === 'integer') return `\${${stops.next()}:${escapeSnippet(String(typical ?? 0))}}`;
  if (type === 'boolean') return `\${${stops.next()}|true,false|}`;
  if (type === 'object') {
    const req = (pick.required ?? []).filter((k) => pick.properties?.[k]);
    if (req.length === 0) return `{$${stops.next()}}`;
    return `{${req.map((k) => `"${k}": ${valueSnippet(pick.properties![k], k, stops)}`).join(', ')}}`;
  }
  if (type === 'array') {
    const items = pick.items;
    if (items && alternatives(items).some((a) => typesOf(a).includes('object') && a.required?.length)) return `[${valueSnippet(items, key, stops)}]`;
    return `[$${stops.next()}]`;
  }
  return `$${stops.next()}`;
}

/** The type of a schema in a few words, for an offer's detail line. */
export function describeType(s: JsonSchema): string {
  return alternatives(s)
    .map((a) => {
      if (a.const !== undefined) return JSON.stringify(a.const);
      if (a.enum) return `one of ${a.enum.map((v) => JSON.stringify(v)).join(', ')}`;
      const t = typesOf(a).join(' | ') || 'any';
      if (t === 'array' && a.items) return `list of ${describeType(a.items)}`;
      return t;
    })
    .join(' or ');
}

/** The offer of `"key": value` for one key of an object. */
export function keyOffer(key: string, s: JsonSchema): Offer {
  return { label: key, detail: describeType(s), documentation: s.description ?? '', insert: `"${key}": ${valueSnippet(s, key, new Stops())}` };
}

/**
 * The keys the object at `path` may hold and does not yet (`present`), in the schema's order;
 * a key the schema's oneOf rules out beside a present one is left out too (`messages` once
 * `prompt` is written, and the other way round).
 */
export function keyOffers(schema: JsonSchema, path: readonly (string | number)[], present: readonly string[] = []): Offer[] {
  const obj = objectSchemaAt(schema, path);
  const excluded = new Set(present);
  for (const alt of obj?.oneOf ?? []) {
    if (alt.required?.length && alt.required.every((k) => present.includes(k))) for (const k of alt.not?.required ?? []) excluded.add(k);
  }
  return Object.entries(obj?.properties ?? {}).filter(([k]) => !excluded.has(k)).map(([k, s]) => keyOffer(k, s));
}

/**
 * The values offered at `path`: each value of an enum or a constant, and, outside a string, the
 * shape of an object or a list (a message's `{"role": …, "content": …}`, `{}`, `[]`).
 */
export function valueOffers(schema: JsonSchema, path: readonly (string | number)[], inString: boolean): Offer[] {
  const s = schemaAt(schema, path);
  if (!s) return [];
  const doc = s.description ?? '';
  const out: Offer[] = [];
  for (const a of alternatives(s)) {
    const values = a.const !== undefined ? [a.const] : a.enum ?? [];
    for (const v of values) {
      if (inString && typeof v !== 'string') continue;
      out.push({ label: JSON.stringify(v), detail: describeType(a), documentation: doc, insert: escapeSnippet(JSON.stringify(v)) });
    }
    const type = typesOf(a)[0];
    if (!inString && (type === 'object' || type === 'array') && a.const === undefined && !a.enum) {
      const insert = valueSnippet(a, String(path[path.length - 1] ?? ''), new Stops());
      out.push({ label: insert.replace(/\$\{\d+\|([^|,]*)[^}]*\}/g, '$1').replace(/\$\{\d+:([^}]*)\}/g, '$1').replace(/\$\d+/g, '…'), detail: describeType(a), documentation: a.description ?? doc, insert });
    }
  }
  return out;
}

/** The description of the key at `path` (the key is its last step), for hover. */
export function keyDescription(schema: JsonSchema, path: readonly (string | number)[]): { detail: string; documentation: string } | undefined {
  const s = schemaAt(schema, path);
  return s && { detail: describeType(s), documentation: s.description ?? '' };
}

/** Whole cases, offered on a blank line: a prompt to continue, and a conversation to answer. */
export const CASE_SNIPPETS: readonly Offer[] = [
  {
    label: 'case (prompt)',
    detail: 'a case: a text to continue',
    documentation: 'A case whose prompt the model continues as is (no chat template); `expect` says what the output must satisfy.',
    insert: '{"name": "$1", "prompt": "$2", "expect": {"contains": "$3"}}',
  },
  {
    label: 'case (messages)',
    detail: 'a case: a conversation to answer',
    documentation: "A case whose conversation is rendered with the model's chat template; the model answers the last (user) turn.",
    insert: '{"name": "$1", "messages": [{"role": "user", "content": "$2"}], "expect": {"contains": "$3"}}',
  },
];
