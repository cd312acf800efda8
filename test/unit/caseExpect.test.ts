// checkOutput / checkLoss / caseStatus / needsOutput / needsLoss (src/core/eval/cases/expect.ts).
// References: String.prototype.includes / startsWith and JSON.parse (ECMA-262) for the text checks;
// a regex is searched anywhere, as Python's re.search does (not anchored like re.match); the
// status rule is the one stated in src/protocol/evalCases.ts (fail beats pass beats skip).
import { describe, expect, it } from 'vitest';
import { caseStatus, checkLoss, checkOutput, needsLoss, needsOutput, quote } from '../../src/core/eval/cases/expect';
import type { CheckResult, EvalCase } from '../../src/protocol/evalCases';

const statuses = (r: CheckResult[]) => r.map((c) => `${c.kind}:${c.status}`);

describe('checkOutput', () => {
  it('contains: one result per string, case-sensitive, with where it was found', () => {
    const r = checkOutput({ contains: ['Paris', 'paris', 'France'] }, 'The capital of France is Paris.');
    expect(statuses(r)).toEqual(['contains:pass', 'contains:fail', 'contains:pass']);
    expect(r[0]).toMatchObject({ expected: 'contains "Paris"', actual: 'found at character 25: "The capital of France is Paris."' });
    expect(r[1]).toMatchObject({ expected: 'contains "paris"', actual: '"The capital of France is Paris."', message: '"paris" is not in the output (case-sensitive)' });
  });

  it('notContains fails with the context around the unwanted string', () => {
    const text = `${'a'.repeat(100)} BAD ${'b'.repeat(100)}`;
    const [r] = checkOutput({ notContains: ['BAD'] }, text);
    expect(r.status).toBe('fail');
    expect(r.actual).toBe(`found at character 101: …"${'a'.repeat(39)} BAD ${'b'.repeat(39)}"…`);
    expect(checkOutput({ notContains: ['BAD'] }, 'fine')[0].status).toBe('pass');
  });

  it('equals compares trimmed strings and says where they first differ', () => {
    expect(checkOutput({ equals: ' 42 ' }, '\n42\n')[0].status).toBe('pass');
    const [r] = checkOutput({ equals: '42' }, '43');
    expect(r).toMatchObject({ status: 'fail', expected: 'equals "42" (trimmed)', actual: '"43"', message: 'the trimmed output differs at character 1: expected "42", got "43"' });
    expect(checkOutput({ equals: '' }, '  \n')[0].status).toBe('pass');
  });

  it('startsWith ignores leading whitespace of the output only', () => {
    expect(checkOutput({ startsWith: 'Yes' }, '  \n Yes, indeed')[0].status).toBe('pass');
    expect(checkOutput({ startsWith: ' Yes' }, ' Yes')[0].status).toBe('fail');
    expect(checkOutput({ startsWith: 'Yes' }, 'No')[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/starts differently at character 0/) });
    expect(checkOutput({ startsWith: 'Yes' }, '   ')[0].actual).toBe('an empty output');
  });

  it('regex searches anywhere (like re.search), honours flags, and quotes the match', () => {
    const [r] = checkOutput({ regex: { pattern: '\\d{3}' } }, 'call 5551234 now');
    expect(r).toMatchObject({ status: 'pass', expected: 'matches /\\d{3}/', actual: 'matched "555" at character 5' });
    expect(checkOutput({ regex: { pattern: '^paris$', flags: 'im' } }, 'City:\nPARIS\n')[0].status).toBe('pass');
    expect(checkOutput({ regex: { pattern: '^paris$' } }, 'City:\nPARIS\n')[0]).toMatchObject({ status: 'fail', message: 'no match anywhere in the output' });
  });

  it('regex: a pattern that does not compile fails with the JavaScript error; "g" does not make a second call differ', () => {
    expect(checkOutput({ regex: { pattern: '[' } }, 'x')[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/^the pattern does not compile: /) });
    const e = { regex: { pattern: 'a', flags: 'g' } };
    expect([checkOutput(e, 'a')[0].status, checkOutput(e, 'a')[0].status]).toEqual(['pass', 'pass']);
  });

  it('json parses the trimmed output and gives the parse error', () => {
    expect(checkOutput({ json: true }, ' {"a": [1, 2]}\n')[0]).toMatchObject({ status: 'pass', actual: 'JSON object: "{\\"a\\": [1, 2]}"' });
    let detail = '';
    try {
      JSON.parse('{"a": }');
    } catch (e) {
      detail = (e as Error).message;
    }
    expect(checkOutput({ json: true }, '{"a": }')[0]).toMatchObject({ status: 'fail', message: `the trimmed output does not parse as JSON: ${detail}` });
    expect(checkOutput({ json: true }, '')[0]).toMatchObject({ status: 'fail', actual: 'an empty output', message: 'the output is empty' });
  });

  it('gives results in CHECK_KINDS order and none for loss checks', () => {
    const r = checkOutput({ json: true, contains: ['x'], maxLoss: 1, startsWith: 'x', equals: 'x', regex: { pattern: 'x' }, notContains: ['y'] }, 'x');
    expect(r.map((c) => c.kind)).toEqual(['contains', 'notContains', 'regex', 'equals', 'startsWith', 'json']);
  });

  it('shortens a long output to 160 code points without splitting a surrogate pair, and says how long it was', () => {
    const long = '😀'.repeat(200);
    const [r] = checkOutput({ contains: ['x'] }, long);
    expect(r.actual).toBe(`${JSON.stringify('😀'.repeat(160))}… (200 characters)`);
    expect(quote('a\nb')).toBe('"a\\nb"');
  });
});

describe('checkLoss', () => {
  it('maxLoss passes when loss ≤ maxLoss (the limit itself passes)', () => {
    expect(checkLoss({ maxLoss: 2.5 }, { loss: 2.5, isBase: false })[0]).toMatchObject({ status: 'pass', expected: 'loss ≤ 2.5', actual: 'loss 2.5000' });
    expect(checkLoss({ maxLoss: 2.5 }, { loss: 3.12, isBase: false })[0]).toMatchObject({ status: 'fail', actual: 'loss 3.1200', message: expect.stringMatching(/0\.6200 above the limit/) });
  });

  it('a NaN or infinite loss fails with a message, on either check', () => {
    for (const loss of [NaN, Infinity]) {
      const r = checkLoss({ maxLoss: 2, lowerLossThanBase: true }, { loss, baseLoss: 3, isBase: false });
      expect(statuses(r)).toEqual(['maxLoss:fail', 'lowerLossThanBase:fail']);
      expect(r[0].message).toMatch(/not finite/);
    }
  });

  it('lowerLossThanBase: pass when strictly lower, fail when not, skip on the base itself or without a base loss', () => {
    expect(checkLoss({ lowerLossThanBase: true }, { loss: 3.5, baseLoss: 4.01, isBase: false })[0]).toMatchObject({ status: 'pass', actual: 'base loss 4.0100, this model 3.5000 (−0.5100)' });
    expect(checkLoss({ lowerLossThanBase: true }, { loss: 4.01, baseLoss: 4.01, isBase: false })[0].status).toBe('fail');
    expect(checkLoss({ lowerLossThanBase: true }, { loss: 4.01, baseLoss: 4.01, isBase: true })[0]).toMatchObject({ status: 'skip', message: expect.stringMatching(/this is the base model/) });
    expect(checkLoss({ lowerLossThanBase: true }, { loss: 3, isBase: false })[0]).toMatchObject({ status: 'skip', message: expect.stringMatching(/base model's loss is unknown/) });
    expect(checkLoss({ lowerLossThanBase: true }, { loss: 3, baseLoss: NaN, isBase: false })[0].status).toBe('skip');
  });

  it('gives nothing for output checks', () => {
    expect(checkLoss({ contains: ['x'], json: true }, { loss: 1, isBase: false })).toEqual([]);
  });
});

describe('caseStatus / needsOutput / needsLoss', () => {
  const r = (status: CheckResult['status']): CheckResult => ({ kind: 'contains', status, expected: '', actual: '' });

  it('fail beats pass beats skip; no checks is skip', () => {
    expect(caseStatus([r('pass'), r('fail'), r('skip')])).toBe('fail');
    expect(caseStatus([r('pass'), r('skip')])).toBe('pass');
    expect(caseStatus([r('skip')])).toBe('skip');
    expect(caseStatus([])).toBe('skip');
  });

  it('says which work a case needs from its checks', () => {
    const c = (e: EvalCase['expect']): EvalCase => ({ name: 'a', line: 1, prompt: 'p', expect: e });
    expect([needsOutput(c({ contains: ['x'] })), needsLoss(c({ contains: ['x'] }))]).toEqual([true, false]);
    expect([needsOutput(c({ maxLoss: 1 })), needsLoss(c({ maxLoss: 1 }))]).toEqual([false, true]);
    expect([needsOutput(c({ json: true, lowerLossThanBase: true })), needsLoss(c({ json: true, lowerLossThanBase: true }))]).toEqual([true, true]);
    expect([needsOutput(c({ json: false })), needsLoss(c({ lowerLossThanBase: false }))]).toEqual([false, false]);
  });
});
