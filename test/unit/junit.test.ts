// junitXml (src/core/eval/cases/junit.ts) against the JUnit XML format CI tools read: validated
// with libxml2 (xmllint-wasm: xmllint's --schema compiled to WebAssembly) against
// test/fixtures/junit/junit.xsd, written from the documented Ant / Jenkins shape. XML 1.0 (W3C,
// 5th edition) for what a document may hold: the `Char` production, the escaping of markup
// characters, attribute-value normalisation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateXML } from 'xmllint-wasm';
import { junitXml, xmlEscape } from '../../src/core/eval/cases/junit';
import type { CaseOutcome, CasesReport } from '../../src/protocol/evalCases';

const XSD = readFileSync(join(__dirname, '../fixtures/junit/junit.xsd'), 'utf8');

async function validate(xml: string) {
  return validateXML({ xml: [{ fileName: 'report.xml', contents: xml }], schema: [{ fileName: 'junit.xsd', contents: XSD }] });
}

const NASTY = 'tab\there <b>&amp; "q" \'s\' ]]> \u0000\u0008\u000B\u001F end 😀 \uD800 \uFFFE';

function outcome(o: Partial<CaseOutcome> & Pick<CaseOutcome, 'case' | 'line' | 'model' | 'status'>): CaseOutcome {
  return { checks: [], ...o };
}

const REPORT: CasesReport = {
  formatVersion: 1, createdAt: '2026-12-03T16:30:05.123Z', file: '/ws/cases/capitals.evals.jsonl', sha256: 'ab'.repeat(32),
  run: '/ws/.lora-lab/runs/r1', gate: 'adapter', backend: 'wasm', ms: 4321, modelMs: { base: 1500, adapter: 2600 }, notes: [],
  models: [
    { label: 'base', kind: 'base', model: '/models/gpt2-tiny' },
    { label: 'adapter', kind: 'adapter', model: '/models/gpt2-tiny', adapter: '/ws/.lora-lab/runs/r1/adapter' },
  ],
  cases: [{ name: 'capital "France"', line: 1 }, { name: 'json <out>', line: 2 }, { name: 'likelier', line: 4 }],
  outcomes: [
    outcome({
      case: 'capital "France"', line: 1, model: 'base', status: 'fail',
      checks: [{ kind: 'contains', status: 'fail', expected: 'contains "Paris"', actual: '"Lyon"', message: '"Paris" is not in the output (case-sensitive)' }],
      output: { text: `Lyon ${NASTY}`, ids: [1, 2, 3], stop: 'max-new-tokens', ms: 250 },
    }),
    outcome({
      case: 'capital "France"', line: 1, model: 'adapter', status: 'pass',
      checks: [{ kind: 'contains', status: 'pass', expected: 'contains "Paris"', actual: 'found at character 0: "Paris"' }],
      output: { text: 'Paris', ids: [4], stop: 'eos', ms: 1250 },
    }),
    outcome({ case: 'json <out>', line: 2, model: 'base', status: 'error', error: 'the prompt is 2000 tokens; the model has 1024 positions\nshorten it' }),
    outcome({ case: 'json <out>', line: 2, model: 'adapter', status: 'error', error: 'the prompt is 2000 tokens; the model has 1024 positions' }),
    outcome({
      case: 'likelier', line: 4, model: 'base', status: 'skip', loss: 3.2,
      checks: [{ kind: 'lowerLossThanBase', status: 'skip', expected: "loss lower than the base model's", actual: 'loss 3.2000', message: 'this is the base model: the others are compared with it' }],
    }),
    outcome({
      case: 'likelier', line: 4, model: 'adapter', status: 'pass', loss: 2.1, baseLoss: 3.2, lossTokens: 5,
      checks: [{ kind: 'lowerLossThanBase', status: 'pass', expected: "loss lower than the base model's", actual: 'base loss 3.2000, this model 2.1000 (−1.1000)' }],
    }),
  ],
};

/** The text of an XML element or attribute value read back (the five entities and numeric references). */
const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

describe('junitXml', () => {
  const xml = junitXml(REPORT);

  it('is valid against the JUnit XSD (libxml2 via xmllint-wasm)', async () => {
    const r = await validate(xml);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('the same validator rejects malformed documents (so the check above can fail)', async () => {
    const mutants = [
      xml.replace(/<testcase name="[^"]*"/, '<testcase'), // a testcase without its required name
      xml.replace('<system-out>', '<stdout>').replace('</system-out>', '</stdout>'), // an element the format lacks
      xml.replace('tests="3"', 'tests="three"'), // a count that is not a number
      xml.replace('<properties>', '<testcase name="early"/>\n    <properties>'), // children out of order
      xml.replace('Lyon', 'Ly\u0000on'), // a character XML 1.0 cannot hold: not even well-formed
    ];
    for (const m of mutants) {
      expect(m).not.toBe(xml);
      const r = await validate(m);
      expect(r.valid).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
    }
  });

  it('one testsuite per model with its counts and time (its model\'s elapsed time, modelMs), totals on the root', () => {
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="lora-lab test capitals" tests="6" failures="1" errors="2" skipped="1" time="4.321">/);
    expect(xml).toContain('<testsuite name="base" tests="3" failures="1" errors="1" skipped="1" time="1.500" timestamp="2026-12-03T16:30:05" package="capitals">');
    expect(xml).toContain('<testsuite name="adapter" tests="3" failures="0" errors="1" skipped="0" time="2.600" timestamp="2026-12-03T16:30:05" package="capitals">');
    expect(xml).toContain('<property name="adapter" value="/ws/.lora-lab/runs/r1/adapter"/>');
    expect(xml).toContain('<property name="gate" value="true"/>');
  });

  it('one testcase per case, classname <case file base>.<model>, escaped names', () => {
    expect(xml.match(/<testcase /g)).toHaveLength(6);
    expect(xml).toContain('<testcase name="capital &quot;France&quot;" classname="capitals.base" time="0.250" file="/ws/cases/capitals.evals.jsonl" line="1">');
    expect(xml).toContain('<testcase name="json &lt;out&gt;" classname="capitals.adapter" file="/ws/cases/capitals.evals.jsonl" line="2">');
  });

  it('failure: message and type from the failed checks, expected vs got and the output in the body', () => {
    const m = /<failure message="([^"]*)" type="([^"]*)">([^<]*)<\/failure>/.exec(xml);
    expect(m).not.toBeNull();
    const [, message, type, body] = m as RegExpExecArray;
    expect(unescape(message)).toBe('contains "Paris": "Paris" is not in the output (case-sensitive)');
    expect(type).toBe('contains');
    expect(unescape(body)).toContain('FAIL contains: "Paris" is not in the output (case-sensitive)\n  expected: contains "Paris"\n  got:      "Lyon"\noutput (3 tokens, stopped by max-new-tokens):\nLyon tab');
  });

  it('error with the message (newlines kept as &#10; in the attribute), skipped with the reason, system-out with the text', () => {
    expect(xml).toContain('<error message="the prompt is 2000 tokens; the model has 1024 positions&#10;shorten it" type="error">');
    expect(xml).toContain('<skipped message="this is the base model: the others are compared with it"/>');
    expect(xml).toContain('<system-out>Paris</system-out>');
  });

  it('characters XML 1.0 cannot hold become visible \\uXXXX; markup is escaped; text reads back', () => {
    const out = /<system-out>([^<]*)<\/system-out>/.exec(xml)?.[1] ?? '';
    expect(unescape(out)).toBe('Lyon tab\there <b>&amp; "q" \'s\' ]]> \\u0000\\u0008\\u000B\\u001F end 😀 \\uD800 \\uFFFE');
    expect(xml).not.toContain(']]>');
    expect(Buffer.from(xml, 'utf8').toString('utf8')).toBe(xml); // no lone surrogate left: UTF-8 round-trips
  });

  it('xmlEscape keeps CR, and newlines and tabs in attributes', () => {
    expect(xmlEscape('a\r\nb\tc')).toBe('a&#13;\nb\tc');
    expect(xmlEscape('a\r\nb\tc', true)).toBe('a&#13;&#10;b&#9;c');
  });

  it('batched cases: the suite time is the elapsed time, not the sum of the cases\' batch times; without modelMs no suite time', async () => {
    // Three cases decoded in one batch of 1.2 s: their outputs end at 0.8, 1.0 and 1.2 s of it.
    // Summed they would make 3.0 s; the model took 1.4 s (1.2 s of batch and 0.2 s setting up).
    const batched = (name: string, line: number, ms: number) => outcome({ case: name, line, model: 'adapter', status: 'pass', output: { text: name, ids: [1], stop: 'eos', ms } });
    const r: CasesReport = {
      ...REPORT, models: [REPORT.models[1]], cases: [{ name: 'a', line: 1 }, { name: 'b', line: 2 }, { name: 'c', line: 3 }],
      outcomes: [batched('a', 1, 800), batched('b', 2, 1000), batched('c', 3, 1200)], ms: 1900, modelMs: { adapter: 1400 },
    };
    const doc = junitXml(r);
    expect(doc).toContain('<testsuite name="adapter" tests="3" failures="0" errors="0" skipped="0" time="1.400"');
    expect([...doc.matchAll(/<testcase name="(\w)"[^>]* time="([\d.]+)"/g)].map((m) => [m[1], m[2]])).toEqual([['a', '0.800'], ['b', '1.000'], ['c', '1.200']]);
    expect((await validate(doc)).valid).toBe(true);
    const old = junitXml({ ...r, modelMs: undefined }); // a report written before modelMs
    expect(old).toContain('<testsuite name="adapter" tests="3" failures="0" errors="0" skipped="0" timestamp=');
    expect((await validate(old)).valid).toBe(true);
  });

  it('a report with no outcomes is still a valid document', async () => {
    const empty = junitXml({ ...REPORT, models: [], cases: [], outcomes: [] });
    expect(empty).toContain('<testsuites name="lora-lab test capitals" tests="0" failures="0" errors="0" skipped="0" time="4.321">');
    expect((await validate(empty)).valid).toBe(true);
  });
});
