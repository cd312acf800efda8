// parseCases / readCases (src/core/eval/cases/caseFile.ts): a `*.evals.jsonl` file read as JSON
// Lines (jsonlines.org: one JSON value per line, UTF-8, "\n" or "\r\n" line ends), every problem
// reported with its 1-based line, shorthands normalised into the EvalCase type of
// src/protocol/evalCases.ts. schemas/evals.schema.json (what the editor checks) is validated with
// Ajv (JSON Schema draft-07) on the same lines and must agree with parseCases.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { CaseFileError, parseCases, readCases } from '../../src/core/eval/cases/caseFile';
import { nearest } from '../../src/core/eval/cases/caseLine';

const F = 'my.evals.jsonl';
const one = (line: string) => parseCases(line, F);
const messagesOf = (line: string) => one(line).problems.map((p) => p.message);

describe('parseCases: valid files', () => {
  it('normalises shorthands: a string contains is a list of one, a string regex a pattern without flags', () => {
    const { cases, problems } = one('{"name": "a", "prompt": "Hi", "expect": {"contains": "x", "notContains": ["y", "z"], "regex": "\\\\d+"}}');
    expect(problems).toEqual([]);
    expect(cases).toEqual([{ name: 'a', line: 1, prompt: 'Hi', expect: { contains: ['x'], notContains: ['y', 'z'], regex: { pattern: '\\d+' } } }]);
  });

  it('keeps every field of a full case: messages, completion, maxNewTokens, sampling, regex with flags', () => {
    const line = JSON.stringify({
      name: 'chat', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of France?' }],
      completion: 'Paris', maxNewTokens: 16, sampling: { temperature: 0.7, topP: 0.9, seed: 3 },
      expect: { regex: { pattern: 'paris', flags: 'i' }, equals: 'Paris', startsWith: 'Par', maxLoss: 2.5, lowerLossThanBase: true, json: true },
    });
    const { cases, problems } = one(line);
    expect(problems).toEqual([]);
    expect(cases[0]).toEqual({ ...JSON.parse(line), line: 1 });
  });

  it('skips blank lines and // comments, counts lines 1-based, accepts CRLF and a UTF-8 BOM', () => {
    const text = '\uFEFF// greetings\r\n\r\n{"name": "a", "prompt": "p", "expect": {"json": true}}\r\n   // indented comment\r\n{"name": "b", "prompt": "q", "expect": {"equals": ""}}\r\n';
    const { cases, problems } = parseCases(text, F);
    expect(problems).toEqual([]);
    expect(cases.map((c) => [c.name, c.line])).toEqual([['a', 3], ['b', 5]]);
  });

  it('a BOM before the first case does not make it bad JSON', () => {
    expect(parseCases('\uFEFF{"name": "a", "prompt": "p", "expect": {"json": true}}', F).cases).toHaveLength(1);
  });
});

describe('parseCases: problems', () => {
  it('reports bad JSON with the column JSON.parse gives (position + 1), and goes on to the next lines', () => {
    const text = '{"name": "a",, "prompt": "p"}\n{"name": "b"}\n{"name": "c", "prompt": "p", "expect": {"json": true}}';
    const { cases, problems } = parseCases(text, F);
    expect(problems[0]).toMatchObject({ line: 1, column: 14 });
    expect(problems[0].message).toMatch(/^not valid JSON: /);
    expect(problems.filter((p) => p.line === 2).map((p) => p.message)).toEqual([expect.stringMatching(/no "prompt" and no "messages"/), expect.stringMatching(/no "expect"/)]);
    expect(cases.map((c) => c.name)).toEqual(['c']);
  });

  it('says a case cannot span lines when a line opens an object it does not close', () => {
    expect(messagesOf('{"name": "a",')[0]).toMatch(/one case per line/);
  });

  it('refuses a line that is not an object', () => {
    expect(messagesOf('[1, 2]')).toEqual([expect.stringMatching(/a case is a JSON object.*not a list/)]);
    expect(messagesOf('"text"')[0]).toMatch(/not string "text"/);
  });

  it('refuses a missing, empty or duplicate name, naming the earlier line', () => {
    expect(messagesOf('{"prompt": "p", "expect": {"json": true}}')).toEqual([expect.stringMatching(/no "name"/)]);
    expect(messagesOf('{"name": "  ", "prompt": "p", "expect": {"json": true}}')).toEqual([expect.stringMatching(/"name" must be a non-empty string/)]);
    const dup = parseCases('{"name": "a", "prompt": "p", "expect": {"json": true}}\n\n{"name": "a", "prompt": "q", "expect": {"json": true}}', F);
    expect(dup.problems).toEqual([{ line: 3, column: 2, message: expect.stringMatching(/duplicate name "a": line 1 already has it/) }]);
    expect(dup.cases).toHaveLength(1);
  });

  it('wants exactly one of prompt and messages', () => {
    expect(messagesOf('{"name": "a", "expect": {"json": true}}')[0]).toMatch(/no "prompt" and no "messages"/);
    expect(messagesOf('{"name": "a", "prompt": "p", "messages": [{"role": "user", "content": "q"}], "expect": {"json": true}}')[0]).toMatch(/not both/);
    expect(messagesOf('{"name": "a", "prompt": "", "expect": {"json": true}}')[0]).toMatch(/"prompt" must be a non-empty string/);
  });

  it('checks the shape of messages: role, content, and no assistant turn last (the model answers after it)', () => {
    const m = (messages: unknown) => messagesOf(JSON.stringify({ name: 'a', messages, expect: { json: true } }));
    expect(m([])[0]).toMatch(/non-empty list/);
    expect(m([{ role: 'bot', content: 'x' }])[0]).toMatch(/"messages"\[0\]\.role must be one of "system", "user", "assistant", "tool", not string "bot"/);
    expect(m([{ role: 'user', content: 5 }])[0]).toMatch(/"messages"\[0\]\.content must be a string/);
    expect(m([{ role: 'user' }])[0]).toMatch(/content must be a string, not missing/);
    expect(m(['hi'])[0]).toMatch(/"messages"\[0\] must be an object/);
    expect(m([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }])[0]).toMatch(/last message is an assistant turn: the model answers after the last message/);
    expect(m([{ role: 'user', content: 'q', name: 'extra keys are kept' }])).toEqual([]);
  });

  it('wants a non-empty expect of known checks, suggesting the nearest name for a typo', () => {
    expect(messagesOf('{"name": "a", "prompt": "p"}')[0]).toMatch(/no "expect"/);
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": {}}')[0]).toMatch(/"expect" is empty/);
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": "x"}')[0]).toMatch(/"expect" must be an object/);
    const p = one('{"name": "a", "prompt": "p", "expect": {"contain": "x"}}').problems;
    expect(p).toEqual([{ line: 1, column: 41, message: 'unknown key "contain" in "expect": did you mean "contains"?' }]);
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": {"zzzzzzzz": 1}}')[0]).toMatch(/the keys are "contains", "notContains"/);
  });

  it('refuses an unknown top-level key with the nearest suggestion ("expected" must not become a case without checks)', () => {
    expect(messagesOf('{"name": "a", "prompt": "p", "expected": {"contains": "x"}}')).toEqual([
      'unknown key "expected" in the case: did you mean "expect"?',
      expect.stringMatching(/no "expect"/),
    ]);
    expect(nearest('maxTokens', ['maxNewTokens', 'name'])).toBe('maxNewTokens');
    expect(nearest('foo', ['json', 'regex'])).toBeUndefined();
  });

  it('checks the types of each check', () => {
    const e = (x: unknown, extra = '') => messagesOf(`{"name": "a", "prompt": "p"${extra}, "expect": ${JSON.stringify(x)}}`);
    expect(e({ contains: 3 })[0]).toMatch(/"contains" must be a string or a non-empty list of strings, not number 3/);
    expect(e({ contains: [] })[0]).toMatch(/non-empty list/);
    expect(e({ notContains: ['x', ''] })[0]).toMatch(/empty string: every output contains it/);
    expect(e({ equals: 1 })[0]).toMatch(/"equals" must be a string/);
    expect(e({ startsWith: '' })[0]).toMatch(/"startsWith" is empty/);
    expect(e({ regex: 5 })[0]).toMatch(/"regex" must be a pattern string or/);
    expect(e({ regex: { pattern: 'a', flag: 'i' } })[0]).toMatch(/unknown key "flag" in "regex": did you mean "flags"\?/);
    expect(e({ json: false })[0]).toMatch(/"json" can only be true/);
    expect(e({ lowerLossThanBase: 'yes' }, ', "completion": "c"')[0]).toMatch(/"lowerLossThanBase" can only be true/);
    for (const bad of [0, -1, 'x', null]) expect(e({ maxLoss: bad }, ', "completion": "c"')[0]).toMatch(/"maxLoss" must be a positive number/);
  });

  it('a regex that does not compile gives the JavaScript error; flags g and y are refused', () => {
    let detail = '';
    const unclosed = '(a';
    try {
      new RegExp(unclosed, '');
    } catch (err) {
      detail = (err as Error).message;
    }
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": {"regex": "(a"}}')[0]).toBe(`"regex" does not compile as a JavaScript regular expression: ${detail}`);
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": {"regex": {"pattern": "a", "flags": "gi"}}}')[0]).toMatch(/drop "g" and "y"/);
    expect(messagesOf('{"name": "a", "prompt": "p", "expect": {"regex": {"pattern": "a", "flags": "q"}}}')[0]).toMatch(/does not compile.*Invalid flags/);
  });

  it('maxLoss and lowerLossThanBase need a completion to score', () => {
    const msgs = messagesOf('{"name": "a", "prompt": "p", "expect": {"maxLoss": 2, "lowerLossThanBase": true}}');
    expect(msgs).toEqual([expect.stringMatching(/"maxLoss" scores the case's "completion"/), expect.stringMatching(/"lowerLossThanBase" scores/)]);
    expect(messagesOf('{"name": "a", "prompt": "p", "completion": "", "expect": {"maxLoss": 2}}')[0]).toMatch(/"completion" must be a non-empty string/);
  });

  it('checks maxNewTokens (1..4096 whole) and sampling (temperature > 0, topP in (0, 1], seed whole ≥ 0)', () => {
    const c = (extra: string) => messagesOf(`{"name": "a", "prompt": "p", "expect": {"json": true}, ${extra}}`);
    for (const n of ['0', '1.5', '4097', '"8"']) expect(c(`"maxNewTokens": ${n}`)[0]).toMatch(/"maxNewTokens" must be a whole number from 1 to 4096/);
    expect(c('"maxNewTokens": 4096')).toEqual([]);
    expect(c('"sampling": {"topP": 0.5}')[0]).toMatch(/needs a "temperature"/);
    expect(c('"sampling": {"temperature": 0}')[0]).toMatch(/"temperature" must be a number above 0/);
    expect(c('"sampling": {"temperature": 1, "topP": 0}')[0]).toMatch(/"topP" must be a number above 0 and at most 1/);
    expect(c('"sampling": {"temperature": 1, "topP": 1.01}')[0]).toMatch(/"topP"/);
    expect(c('"sampling": {"temperature": 1, "seed": 1.5}')[0]).toMatch(/"seed" must be a whole number/);
    expect(c('"sampling": {"temperature": 1, "top_p": 0.9}')[0]).toMatch(/unknown key "top_p" in "sampling": did you mean "topP"\?/);
    expect(c('"sampling": 0.7')[0]).toMatch(/"sampling" must be an object/);
  });

  it('reports every problem of a line, not only the first', () => {
    const p = one('{"name": 3, "prompt": "p", "expect": {"contains": 1, "jsn": true}, "maxNewTokens": -1}').problems;
    expect(p.map((x) => x.message)).toEqual([
      expect.stringMatching(/"name" must be a non-empty string/),
      expect.stringMatching(/unknown key "jsn" in "expect": did you mean "json"\?/),
      expect.stringMatching(/"contains" must be/),
      expect.stringMatching(/"maxNewTokens"/),
    ]);
    expect(p.every((x) => x.line === 1 && typeof x.column === 'number')).toBe(true);
  });
});

describe('readCases', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cases-'));
  const write = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('reads the cases of a good file', () => {
    const f = write('good.evals.jsonl', '{"name": "a", "prompt": "p", "expect": {"contains": "x"}}\n');
    expect(readCases(f)).toEqual([{ name: 'a', line: 1, prompt: 'p', expect: { contains: ['x'] } }]);
  });

  it('throws CaseFileError listing up to 10 problems as file:line[:column]: message, and how many more', () => {
    const f = write('bad.evals.jsonl', Array.from({ length: 12 }, (_, i) => `{"name": "c${i}", "prompt": "p"}`).join('\n'));
    let err: unknown;
    try {
      readCases(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CaseFileError);
    const e = err as CaseFileError;
    expect(e.file).toBe(f);
    expect(e.problems).toHaveLength(12);
    expect(e.message).toContain(`${f}: 12 problems in the case file; fix them and run again:`);
    expect(e.message).toContain(`  ${f}:1: no "expect"`);
    expect(e.message).toContain(`  ${f}:10: no "expect"`);
    expect(e.message).not.toContain(`${f}:11:`);
    expect(e.message).toContain('… and 2 more problems');
  });

  it('refuses a file with no cases (only comments) with a CaseFileError saying how to write one', () => {
    const f = write('empty.evals.jsonl', '// nothing yet\n\n');
    expect(() => readCases(f)).toThrow(/no cases: write one JSON case per line/);
  });

  it('names the file when it cannot be read', () => {
    expect(() => readCases(join(dir, 'missing.evals.jsonl'))).toThrow(/missing\.evals\.jsonl: cannot read the case file \(ENOENT/);
  });
});

describe('schemas/evals.schema.json agrees with parseCases (Ajv, JSON Schema draft-07)', () => {
  const schema = JSON.parse(readFileSync(join(__dirname, '../../schemas/evals.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const both = (line: string) => ({ schema: validate(JSON.parse(line)), parse: one(line).problems.length === 0 });
  const base = '"name": "a", "prompt": "p"';

  const VALID = [
    `{${base}, "expect": {"contains": "x"}}`,
    `{${base}, "expect": {"contains": ["x", "y"], "notContains": "z", "regex": "\\\\d", "equals": "", "startsWith": "x", "json": true}}`,
    `{${base}, "expect": {"regex": {"pattern": "x", "flags": "ims"}}}`,
    `{${base}, "completion": "c", "expect": {"maxLoss": 2.5, "lowerLossThanBase": true}}`,
    `{"name": "m", "messages": [{"role": "system", "content": ""}, {"role": "user", "content": "q", "name": "kept"}], "expect": {"json": true}}`,
    `{${base}, "expect": {"json": true}, "maxNewTokens": 4096, "sampling": {"temperature": 0.7, "topP": 1, "seed": 0}}`,
  ];
  const INVALID = [
    '{"prompt": "p", "expect": {"json": true}}', // no name
    '{"name": " ", "prompt": "p", "expect": {"json": true}}', // blank name
    '{"name": "a", "expect": {"json": true}}', // neither prompt nor messages
    `{${base}, "messages": [{"role": "user", "content": "q"}], "expect": {"json": true}}`, // both
    `{${base}}`, // no expect
    `{${base}, "expect": {}}`,
    `{${base}, "expected": {"contains": "x"}}`,
    `{${base}, "expect": {"contain": "x"}}`,
    `{${base}, "expect": {"contains": []}}`,
    `{${base}, "expect": {"contains": [""]}}`,
    `{${base}, "expect": {"notContains": 1}}`,
    `{${base}, "expect": {"regex": {"pattern": "x", "flags": "g"}}}`,
    `{${base}, "expect": {"regex": {"pattern": "x", "flag": "i"}}}`,
    `{${base}, "expect": {"startsWith": ""}}`,
    `{${base}, "expect": {"maxLoss": 2}}`, // no completion
    `{${base}, "completion": "c", "expect": {"maxLoss": 0}}`,
    `{${base}, "completion": "c", "expect": {"lowerLossThanBase": false}}`,
    `{${base}, "expect": {"json": false}}`,
    `{${base}, "expect": {"json": true}, "maxNewTokens": 0}`,
    `{${base}, "expect": {"json": true}, "maxNewTokens": 4097}`,
    `{${base}, "expect": {"json": true}, "maxNewTokens": 2.5}`,
    `{${base}, "expect": {"json": true}, "sampling": {"topP": 0.9}}`,
    `{${base}, "expect": {"json": true}, "sampling": {"temperature": 0}}`,
    `{${base}, "expect": {"json": true}, "sampling": {"temperature": 1, "topP": 1.5}}`,
    `{${base}, "expect": {"json": true}, "sampling": {"temperature": 1, "seed": -1}}`,
    `{${base}, "expect": {"json": true}, "sampling": {"temperature": 1, "top_p": 0.5}}`,
    '{"name": "a", "messages": [], "expect": {"json": true}}',
    '{"name": "a", "messages": [{"role": "bot", "content": "q"}], "expect": {"json": true}}',
    '{"name": "a", "messages": [{"role": "user"}], "expect": {"json": true}}',
    '["not", "an", "object"]',
  ];
  // What a schema cannot say (parseCases's extra rules, stated in the schema's description).
  const PARSE_ONLY = [
    `{${base}, "expect": {"regex": "(unclosed"}}`, // compiles?
    '{"name": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "expect": {"json": true}}', // last turn
  ];

  it.each(VALID)('both accept %s', (line) => expect(both(line)).toEqual({ schema: true, parse: true }));
  it.each(INVALID)('both refuse %s', (line) => expect(both(line)).toEqual({ schema: false, parse: false }));
  it.each(PARSE_ONLY)('only parseCases refuses %s (a schema cannot say it)', (line) => expect(both(line)).toEqual({ schema: true, parse: false }));

  it('describes every property it declares (the editor shows descriptions on hover and completion)', () => {
    const missing: string[] = [];
    const walk = (s: Record<string, unknown>, at: string) => {
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (typeof v.description !== 'string' || !v.description) missing.push(`${at}.${k}`);
        walk(v, `${at}.${k}`);
        for (const alt of (v.anyOf ?? []) as Record<string, unknown>[]) walk(alt, `${at}.${k}`);
        if (v.items) walk(v.items as Record<string, unknown>, `${at}.${k}[]`);
      }
    };
    walk(schema, '');
    expect(missing).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
  });
});
