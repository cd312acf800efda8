// Completion and hover in `*.evals.jsonl` (src/host/caseCompletion.ts): where the cursor is in a
// line (core/eval/cases/cursor.ts) and what the schema offers there (core/eval/cases/caseSchema.ts).
// References: the parser's key lists (caseLine.ts CASE_KEYS, CHECK_KINDS, SAMPLING_KEYS, REGEX_KEYS,
// MESSAGE_ROLES) and parseCases itself: every key the parser accepts is described in
// schemas/evals.schema.json and offered in its object, nothing else is offered, and every snippet,
// its placeholders filled, is a line parseCases accepts, so schema, parser and completion cannot drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseCases } from '../../src/core/eval/cases/caseFile';
import { CASE_KEYS, MESSAGE_ROLES, REGEX_KEYS, SAMPLING_KEYS } from '../../src/core/eval/cases/caseLine';
import { CASE_SNIPPETS, keyDescription, keyOffers, valueOffers, type JsonSchema } from '../../src/core/eval/cases/caseSchema';
import { caseCursor, keyAt, objectAt, type CaseCursor } from '../../src/core/eval/cases/cursor';
import { CaseCompletion } from '../../src/host/caseCompletion';
import { CHECK_KINDS } from '../../src/protocol/evalCases';

// The editor's types the provider builds, as plain records.
vi.mock('vscode', () => {
  class Range {
    constructor(readonly startLine: number, readonly start: number, readonly endLine: number, readonly end: number) {}
  }
  class CompletionItem {
    detail?: string;
    documentation?: unknown;
    insertText?: unknown;
    range?: Range;
    filterText?: string;
    constructor(readonly label: string, readonly kind: number) {}
  }
  class SnippetString {
    constructor(readonly value: string) {}
  }
  class MarkdownString {
    constructor(readonly value: string) {}
  }
  class Hover {
    constructor(readonly contents: MarkdownString, readonly range: Range) {}
  }
  return { Range, CompletionItem, SnippetString, MarkdownString, Hover, CompletionItemKind: { Property: 9, Value: 11, Snippet: 14 } };
});

const schema = JSON.parse(readFileSync(join(__dirname, '../../schemas/evals.schema.json'), 'utf8')) as JsonSchema;

/** The cursor of a line written with `|` where the cursor is. */
function at(marked: string): CaseCursor {
  const c = marked.indexOf('|');
  return caseCursor(marked.slice(0, c) + marked.slice(c + 1), c);
}

describe('caseCursor: where the cursor is in a line', () => {
  it.each<[string, Partial<CaseCursor> & Record<string, unknown>]>([
    // Blank lines take a whole case; comments and the space after a case take nothing.
    ['|', { kind: 'line' }],
    ['  |  ', { kind: 'line' }],
    ['// a comment |', { kind: 'none' }],
    ['{"name": "a"} |', { kind: 'none' }],
    ['|{"name": "a"}', { kind: 'none' }],
    // Key positions of the case, with the keys already there (before and after the cursor).
    ['{|}', { kind: 'key', path: [], present: [], range: [1, 1], hasColon: false }],
    ['{"name": "a", |}', { kind: 'key', path: [], present: ['name'] }],
    ['{"name": "a", "pr|": "x", "expect": {"json": true}}', { kind: 'key', path: [], present: ['name', 'expect'], range: [14, 18], prefix: 'pr', hasColon: true }],
    ['{"prompt": "say \\"hi\\" {", |', { kind: 'key', path: [], present: ['prompt'] }],
    ['{"name": "a\\\\", |', { kind: 'key', path: [], present: ['name'] }],
    // Inside expect, sampling, a regex object, a message.
    ['{"name": "a", "expect": {|}}', { kind: 'key', path: ['expect'], present: [] }],
    ['{"name": "a", "expect": {"contains": "x", |}}', { kind: 'key', path: ['expect'], present: ['contains'] }],
    ['{"name": "a", "expect": {"cont|', { kind: 'key', path: ['expect'], range: [25, 30], prefix: 'cont', hasColon: false }],
    ['{"expect": {"contains": ["a", "b]", "c"], |}}', { kind: 'key', path: ['expect'], present: ['contains'] }],
    ['{"sampling": {"temperature": 0.7, |}}', { kind: 'key', path: ['sampling'], present: ['temperature'] }],
    ['{"name": "a", "expect": {"regex": {"pattern": "\\\\d+", |', { kind: 'key', path: ['expect', 'regex'], present: ['pattern'] }],
    ['{"messages": [{"role": "user", "content": "a"}, {|}]}', { kind: 'key', path: ['messages', 1], present: [] }],
    // Value positions.
    ['{"name": "a|b"}', { kind: 'value', path: ['name'], inString: true, range: [9, 13], prefix: 'a' }],
    ['{"prompt": "say \\"hi\\", then {go}|', { kind: 'value', path: ['prompt'], inString: true }],
    ['{"messages": [{"role": "user", "content": "a"}, {"role": "|"}]}', { kind: 'value', path: ['messages', 1, 'role'], inString: true, range: [57, 59] }],
    ['{"messages": [{"role": "user", "content": "a"}, |', { kind: 'value', path: ['messages', 1], inString: false }],
    ['{"expect": {"json": t|', { kind: 'value', path: ['expect', 'json'], prefix: 't', range: [20, 21] }],
    ['{"sampling": |', { kind: 'value', path: ['sampling'], inString: false }],
    ['{"expect": {"contains": ["a", "b]", |], "json": true}}', { kind: 'value', path: ['expect', 'contains', 2] }],
    // After a value or a key, before its comma or colon: nothing goes there.
    ['{"name": "a"|}', { kind: 'none' }],
    ['{"name": "a" |', { kind: 'none' }],
    ['{"name"|: "a"}', { kind: 'none' }],
  ])('%s', (line, want) => expect(at(line)).toMatchObject(want));

  it('names the objects a case has', () => {
    expect([[], ['expect'], ['sampling'], ['expect', 'regex'], ['messages', 3], ['expect', 'contains']].map((p) => objectAt(p))).toEqual(['case', 'expect', 'sampling', 'regex', 'message', undefined]);
  });

  it('keyAt finds the key under the cursor, with the object it is in (hover)', () => {
    const line = '{"name": "maxLoss", "expect": {"maxLoss": 2}}';
    const k = keyAt(line, line.lastIndexOf('maxLoss') + 2);
    expect(k).toEqual({ key: 'maxLoss', path: ['expect'], start: line.lastIndexOf('"maxLoss"'), end: line.lastIndexOf('"maxLoss"') + 9 });
    expect(keyAt(line, line.indexOf('maxLoss'))).toBeUndefined(); // the value "maxLoss" of name is not a key
    expect(keyDescription(schema, [...k!.path, k!.key])?.documentation).toMatch(/mean loss per token/);
  });
});

/** Each object of a case, the keys the parser accepts in it, and the cursor line that puts the cursor there. */
const OBJECTS: [string, readonly string[], string][] = [
  ['case', CASE_KEYS, '{|'],
  ['expect', CHECK_KINDS, '{"name": "a", "expect": {|'],
  ['sampling', SAMPLING_KEYS, '{"name": "a", "sampling": {|'],
  ['regex', REGEX_KEYS, '{"expect": {"regex": {|'],
  ['message', ['role', 'content'], '{"messages": [{"role": "system", "content": "s"}, {|'],
];

describe('the schema, the parser and completion agree', () => {
  it.each(OBJECTS)('%s: every key the parser accepts is offered there, with a description, and nothing else is', (_, keys, line) => {
    const c = at(line);
    expect(c.kind).toBe('key');
    if (c.kind !== 'key') return;
    const offers = keyOffers(schema, c.path, c.present);
    expect(offers.map((o) => o.label).sort()).toEqual([...keys].sort());
    for (const o of offers) expect(o.documentation.length, o.label).toBeGreaterThan(10);
  });

  it('a message role offers the roles the parser accepts', () => {
    const c = at('{"messages": [{"role": "|');
    expect(c).toMatchObject({ kind: 'value', inString: true });
    if (c.kind === 'value') expect(valueOffers(schema, c.path, true).map((o) => o.label)).toEqual(MESSAGE_ROLES.map((r) => JSON.stringify(r)));
  });

  it.each(['lowerLossThanBase', 'json'])('%s offers true', (k) => {
    const c = at(`{"expect": {"${k}": |`);
    if (c.kind === 'value') expect(valueOffers(schema, c.path, false).map((o) => o.insert)).toEqual(['true']);
    else expect.unreachable();
  });

  it('keys written are not offered again, and prompt and messages rule each other out', () => {
    const labels = (line: string) => {
      const c = at(line);
      return c.kind === 'key' ? keyOffers(schema, c.path, c.present).map((o) => o.label) : [];
    };
    expect(labels('{"name": "a", "prompt": "p", |')).toEqual(['completion', 'expect', 'maxNewTokens', 'sampling']);
    expect(labels('{"messages": [], |')).toEqual(['name', 'completion', 'expect', 'maxNewTokens', 'sampling']);
    expect(labels('{"expect": {"contains": "x", "maxLoss": 2, |')).not.toContain('maxLoss');
  });

  it('key snippets are typed from the schema', () => {
    const insert = (path: string[], key: string) => keyOffers(schema, path).find((o) => o.label === key)?.insert;
    expect(insert(['expect'], 'contains')).toBe('"contains": [$1]');
    expect(insert(['expect'], 'maxLoss')).toBe('"maxLoss": ${1:2.5}');
    expect(insert(['expect'], 'json')).toBe('"json": true');
    expect(insert([], 'prompt')).toBe('"prompt": "$1"');
    expect(insert([], 'expect')).toBe('"expect": {$1}');
    expect(insert([], 'maxNewTokens')).toBe('"maxNewTokens": ${1:64}');
    expect(insert([], 'messages')).toBe('"messages": [{"role": "${1|system,user,assistant,tool|}", "content": "$2"}]');
  });
});

/** A snippet with its placeholders filled: the first choice, the placeholder, "x" in a string, ["x"] in a list, a check in an object. */
function fill(snippet: string): string {
  return snippet
    .replace(/\$\{\d+\|([^,|]*)[^}]*\}/g, '$1')
    .replace(/\$\{\d+:([^}]*)\}/g, '$1')
    .replace(/"\$\d+"/g, '"x"')
    .replace(/\[\$\d+\]/g, '["x"]')
    .replace(/\{\$\d+\}/g, '{"json": true}');
}

describe('every snippet, filled in, is a case parseCases accepts', () => {
  const accepted = (line: string) => parseCases(line, 't.evals.jsonl').problems.map((p) => p.message);

  it.each(CASE_SNIPPETS.map((s) => [s.label, s.insert]))('%s', (_, insert) => expect(accepted(fill(insert))).toEqual([]));

  // Each key's snippet, written into a case that is valid without it.
  const cases: [string, (snippet: string) => string][] = [
    ['case', (s) => (s.startsWith('"name"') ? `{${s}, "prompt": "p", "expect": {"json": true}}` : s.startsWith('"prompt"') || s.startsWith('"messages"') ? `{"name": "n", ${s}, "expect": {"json": true}}` : s.startsWith('"expect"') ? `{"name": "n", "prompt": "p", ${s}}` : `{"name": "n", "prompt": "p", "expect": {"json": true}, ${s}}`)],
    ['expect', (s) => `{"name": "n", "prompt": "p", "completion": "c", "expect": {${s}}}`],
    ['sampling', (s) => `{"name": "n", "prompt": "p", "expect": {"json": true}, "sampling": {${s.startsWith('"temperature"') ? s : `"temperature": 0.7, ${s}`}}}`],
    ['regex', (s) => `{"name": "n", "prompt": "p", "expect": {"regex": {${s.startsWith('"pattern"') ? s : `"pattern": "x", ${s}`}}}}`],
    ['message', (s) => `{"name": "n", "messages": [{${s.startsWith('"role"') ? `${s}, "content": "c"` : `"role": "user", ${s}`}}], "expect": {"json": true}}`],
  ];
  for (const [object, wrap] of cases) {
    const path = at(OBJECTS.find((o) => o[0] === object)![2]);
    if (path.kind !== 'key') throw new Error(`no key position for ${object}`);
    it.each(keyOffers(schema, path.path).map((o) => [o.label, o.insert]))(`${object}: %s`, (_, insert) => expect(accepted(wrap(fill(insert)))).toEqual([]));
  }
});

describe('CaseCompletion (the editor glue, vscode mocked)', () => {
  const doc = (text: string) => ({ lineAt: () => ({ text }) }) as never;
  const complete = (marked: string) => {
    const c = marked.indexOf('|');
    const items = new CaseCompletion().provideCompletionItems(doc(marked.slice(0, c) + marked.slice(c + 1)), { line: 0, character: c } as never) ?? [];
    return items.map((i) => ({ label: String(i.label), insert: (i.insertText as { value: string }).value, range: [(i.range as unknown as { start: number }).start, (i.range as unknown as { end: number }).end], filter: i.filterText, doc: (i.documentation as { value: string }).value }));
  };

  it('a half-typed key is replaced, quotes and all, by the key and its typed value', () => {
    const contains = complete('{"name": "a", "expect": {"con|').find((i) => i.label === 'contains');
    expect(contains).toMatchObject({ insert: '"contains": [$1]', range: [25, 29], filter: '"contains"' });
    expect(contains?.doc).toMatch(/contains this string/);
  });

  it('a key that already has its colon is replaced by the key alone', () => {
    expect(complete('{"name": "a", "expect": {"con|": "x"}}').find((i) => i.label === 'contains')).toMatchObject({ insert: '"contains"', range: [25, 30] });
  });

  it('a blank line, or a lone brace, offers whole cases', () => {
    expect(complete('|').map((i) => i.label)).toEqual(CASE_SNIPPETS.map((s) => s.label));
    expect(complete('{|}').filter((i) => i.label.startsWith('case')).map((i) => i.range)).toEqual([[0, 2], [0, 2]]);
  });

  it('hover on a key shows its description', () => {
    const line = '{"name": "a", "sampling": {"topP": 0.9}}';
    const h = new CaseCompletion().provideHover(doc(line), { line: 0, character: line.indexOf('topP') } as never);
    expect((h?.contents as unknown as { value: string }).value).toMatch(/^\*\*topP\*\* · number\n\nNucleus sampling/);
    expect(new CaseCompletion().provideHover(doc(line), { line: 0, character: line.indexOf('0.9') } as never)).toBeUndefined();
  });
});
