// Where the cursor is in one line of a `*.evals.jsonl` case file, for completion and hover: at a
// key position of some object (the case, `expect`, `sampling`, a `regex` object, a message), at the
// value of a key (or an item of a list), or on a blank line where a whole case goes. The line is
// read with a small tolerant scanner, not JSON.parse, because the line being typed is rarely valid
// JSON: strings with escapes, nested lists and objects, a missing `}` or a half-typed key are all
// read as far as they go. Positions are 0-based offsets in the line (VS Code's `character`).
// Pure: no editor, no schema (caseSchema.ts says what goes where).

/** A step from the case down to a value: a key of an object, or the index of an item in a list. */
export type Seg = string | number;

/** A key as written in the line: `start` at its opening quote (or first character, when bare), `end` after its closing quote. */
export interface KeyToken {
  key: string;
  /** The path of the object the key is in ([] for the case itself). */
  path: Seg[];
  start: number;
  end: number;
}

export type CaseCursor =
  /** A blank line: a whole case goes here. */
  | { kind: 'line' }
  /**
   * A key goes here, in the object at `path`. `range` is what a chosen key replaces: the key
   * half-typed at the cursor with its quotes (empty at the cursor when none is). `hasColon`: the
   * key under the cursor already has its `:` (insert the key alone, not `"key": value`).
   */
  | { kind: 'key'; path: Seg[]; present: string[]; range: [number, number]; prefix: string; hasColon: boolean }
  /** The value at `path` goes here (the last step is its key, or its index in a list); `inString`: the cursor is inside a string, which `range` spans with its quotes. */
  | { kind: 'value'; path: Seg[]; range: [number, number]; prefix: string; inString: boolean }
  /** Nothing to offer: after a value, in a comment, past the end of the case. */
  | { kind: 'none' };

/** What the object at `path` is, for the objects a case file has; undefined for any other. */
export type CaseObject = 'case' | 'expect' | 'sampling' | 'regex' | 'message';

export function objectAt(path: readonly Seg[]): CaseObject | undefined {
  const p = path.map((s) => (typeof s === 'number' ? '#' : s)).join('/');
  const known: Record<string, CaseObject> = { '': 'case', expect: 'expect', sampling: 'sampling', 'expect/regex': 'regex', 'messages/#': 'message' };
  return known[p];
}

type State = 'key' | 'colon' | 'value' | 'after';
interface Frame {
  kind: 'object' | 'array' | 'root';
  path: Seg[];
  state: State;
  /** Keys of an object, in order. */
  keys: KeyToken[];
  /** The step to the value being read: the last key of an object, the index in a list. */
  step: Seg;
}
/** A string or a bare word (number, true, null, an unquoted key). */
interface Token { start: number; end: number; text: string; quoted: boolean; closed: boolean }

const STRUCTURAL = new Set(['{', '}', '[', ']', ':', ',']);
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** A string token from its opening quote; escapes skip the character after the backslash. */
function readString(text: string, start: number): Token {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  const closed = i < text.length;
  const end = closed ? i + 1 : text.length;
  const raw = text.slice(start, end);
  let value: string;
  try {
    // An unfinished string ending in a lone backslash (an escape half-typed) is read without it.
    const open = /(\\+)$/.exec(raw)?.[1].length ?? 0;
    value = JSON.parse(closed ? raw : `${open % 2 ? raw.slice(0, -1) : raw}"`) as string;
  } catch {
    value = raw.slice(1, closed ? -1 : undefined);
  }
  return { start, end, text: value, quoted: true, closed };
}

function readWord(text: string, start: number): Token {
  let i = start;
  while (i < text.length && !isSpace(text[i]) && !STRUCTURAL.has(text[i]) && text[i] !== '"') i++;
  return { start, end: i, text: text.slice(start, i), quoted: false, closed: true };
}

/** Every key of the line with the object it is in, and the cursor's place when `cursor` is given. */
export function scanLine(text: string, cursor = -1): { keys: KeyToken[]; at: CaseCursor } {
  const keys: KeyToken[] = [];
  const root: Frame = { kind: 'root', path: [], state: 'value', keys: [], step: 0 };
  const stack: Frame[] = [root];
  let at: CaseCursor | undefined;
  /** Set when the cursor is at a key position; its `present` is filled in at the end, when the object's later keys are known too. */
  let keyFrame: Frame | undefined;
  let cursorKey: KeyToken | undefined;
  if (text.trim() === '') return { keys, at: cursor >= 0 ? { kind: 'line' } : { kind: 'none' } };
  if (text.trimStart().startsWith('//')) return { keys, at: { kind: 'none' } };

  /** The cursor between tokens, in `f`'s state. */
  const between = (f: Frame): CaseCursor => {
    if (f.kind === 'object' && f.state === 'key') {
      keyFrame = f;
      return { kind: 'key', path: f.path, present: [], range: [cursor, cursor], prefix: '', hasColon: false };
    }
    if (f.state === 'value' && f.kind !== 'root') return { kind: 'value', path: [...f.path, f.step], range: [cursor, cursor], prefix: '', inString: false };
    return { kind: 'none' };
  };
  /** The cursor inside token `t`, read in `f`'s state. */
  const inside = (f: Frame, t: Token, key: KeyToken | undefined): CaseCursor => {
    const prefix = text.slice(t.start + (t.quoted ? 1 : 0), cursor);
    if (f.kind === 'object' && f.state === 'key') {
      keyFrame = f;
      cursorKey = key;
      const hasColon = /^\s*:/.test(text.slice(t.end));
      return { kind: 'key', path: f.path, present: [], range: [t.start, t.end], prefix, hasColon };
    }
    if (f.state === 'value' && f.kind !== 'root') return { kind: 'value', path: [...f.path, f.step], range: [t.start, t.end], prefix, inString: t.quoted };
    return { kind: 'none' };
  };

  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const f = stack[stack.length - 1];
    if (isSpace(c)) {
      if (i === cursor && at === undefined) at = between(f);
      i++;
      continue;
    }
    if (i === cursor && at === undefined) at = between(f);
    if (c === '"' || !STRUCTURAL.has(c)) {
      const t = c === '"' ? readString(text, i) : readWord(text, i);
      let key: KeyToken | undefined;
      if (f.kind === 'object' && f.state === 'key') {
        key = { key: t.text, path: f.path, start: t.start, end: t.end };
        keys.push(key);
        f.keys.push(key);
      }
      // Inside a string: after its opening quote, up to its closing one (or the end of an unfinished one); inside a word: up to its end.
      const within = t.quoted ? cursor > t.start && (cursor < t.end || !t.closed) : cursor > t.start && cursor <= t.end;
      if (within && at === undefined) at = inside(f, t, key);
      if (key) {
        f.step = key.key;
        f.state = 'colon';
      } else if (f.state === 'value') f.state = 'after';
      i = t.end;
      continue;
    }
    if (c === '{' || c === '[') {
      if (f.state === 'value') {
        stack.push({ kind: c === '{' ? 'object' : 'array', path: f.kind === 'root' ? [] : [...f.path, f.step], state: c === '{' ? 'key' : 'value', keys: [], step: 0 });
        f.state = 'after';
      }
    } else if (c === '}' || c === ']') {
      if (f.kind === (c === '}' ? 'object' : 'array')) stack.pop();
    } else if (c === ':') {
      if (f.state === 'colon') f.state = 'value';
    } else if (c === ',') {
      if (f.kind === 'object') f.state = 'key';
      else if (f.kind === 'array') {
        f.step = (f.step as number) + 1;
        f.state = 'value';
      }
    }
    i++;
  }
  if (cursor >= text.length && at === undefined) at = between(stack[stack.length - 1]);
  if (at?.kind === 'key' && keyFrame) at.present = keyFrame.keys.filter((k) => k !== cursorKey).map((k) => k.key);
  return { keys, at: at ?? { kind: 'none' } };
}

/** The cursor's place in a line (`cursor`: 0-based offset). */
export function caseCursor(text: string, cursor: number): CaseCursor {
  return scanLine(text, Math.max(0, Math.min(cursor, text.length))).at;
}

/** The key written at `offset` (on its quotes or between them), for hover. */
export function keyAt(text: string, offset: number): KeyToken | undefined {
  return scanLine(text).keys.find((k) => offset >= k.start && offset < k.end);
}
