// The example messages between the panel and the host (issue 15): StepExamples / RunExamples
// params and replies decoded at each end, and the openExample / excludeExamples commands checked
// before the host acts (a run id, a file, line numbers ≥ 1, a bounded list).
import { describe, expect, it } from 'vitest';
import { decodeRunExamplesReply, decodeStepExamplesReply, RunExamples, StepExamples } from '../../src/protocol/examples';
import { decodePanelCommand, EXCLUDE_MAX_LINES } from '../../src/protocol/panel';

describe('StepExamples and RunExamples', () => {
  it('params: a run id and a step; a limit from 1 to 50', () => {
    expect(StepExamples.params({ runId: 'r1', step: 12 })).toEqual({ ok: true, value: { runId: 'r1', step: 12 } });
    expect(StepExamples.params({ runId: '../x', step: 12 }).ok).toBe(false);
    expect(StepExamples.params({ runId: 'r1', step: -1 }).ok).toBe(false);
    expect(RunExamples.params({ runId: 'r1' })).toEqual({ ok: true, value: { runId: 'r1' } });
    expect(RunExamples.params({ runId: 'r1', limit: 20 })).toEqual({ ok: true, value: { runId: 'r1', limit: 20 } });
    expect(RunExamples.params({ runId: 'r1', limit: 5000 }).ok).toBe(false);
  });

  it('replies: examples with a line ≥ 1, a loss or null, optional text', () => {
    const reply = { runId: 'r1', step: 3, loss: 2.5, file: '/w/d.jsonl', examples: [{ file: '/w/d.jsonl', line: 4, loss: null, step: 3 }, { file: '/w/d.jsonl', line: 9, loss: 3.1, step: 3, text: '{"text":' }] };
    expect(decodeStepExamplesReply(reply)).toEqual({ ok: true, value: reply });
    expect(decodeStepExamplesReply({ ...reply, examples: [{ file: 'f', line: 0, loss: 1, step: 3 }] })).toMatchObject({ ok: false, error: expect.stringMatching(/examples\[0\]\.line/) });
    const run = {
      runId: 'r1', trainFile: '/w/d.jsonl', epochs: 2, notes: ['n'], hardestTrain: [{ file: 'f', line: 1, loss: 1, step: 2 }], hardestValid: [],
      wentUp: [{ file: 'f', line: 1, loss: 1, step: 2, firstLoss: 0.5, firstStep: 1 }],
    };
    expect(decodeRunExamplesReply(run)).toEqual({ ok: true, value: run });
    expect(decodeRunExamplesReply({ ...run, wentUp: [{ file: 'f', line: 1, loss: 1, step: 2 }] }).ok).toBe(false);
  });
});

describe('openExample and excludeExamples', () => {
  it('openExample: a run id, a non-empty file, a line ≥ 1', () => {
    expect(decodePanelCommand({ type: 'openExample', runId: 'r1', file: '/w/d.jsonl', line: 3 })).toEqual({ ok: true, value: { type: 'openExample', runId: 'r1', file: '/w/d.jsonl', line: 3 } });
    expect(decodePanelCommand({ type: 'openExample', runId: 'r1', file: '', line: 3 }).ok).toBe(false);
    expect(decodePanelCommand({ type: 'openExample', runId: 'r1', file: 'f', line: 0 }).ok).toBe(false);
    expect(decodePanelCommand({ type: 'openExample', runId: '..', file: 'f', line: 1 }).ok).toBe(false);
  });

  it('excludeExamples: 1 to EXCLUDE_MAX_LINES whole line numbers ≥ 1 and a note (cut to 200 characters); no file from the panel', () => {
    expect(decodePanelCommand({ type: 'excludeExamples', runId: 'r1', lines: [3, 9], note: 'step 4', file: '/etc/passwd' })).toEqual({ ok: true, value: { type: 'excludeExamples', runId: 'r1', lines: [3, 9], note: 'step 4' } });
    expect(decodePanelCommand({ type: 'excludeExamples', runId: 'r1', lines: [], note: '' }).ok).toBe(false);
    expect(decodePanelCommand({ type: 'excludeExamples', runId: 'r1', lines: [1.5], note: '' }).ok).toBe(false);
    expect(decodePanelCommand({ type: 'excludeExamples', runId: 'r1', lines: Array.from({ length: EXCLUDE_MAX_LINES + 1 }, (_, i) => i + 1), note: '' }).ok).toBe(false);
    const long = decodePanelCommand({ type: 'excludeExamples', runId: 'r1', lines: [1], note: 'x'.repeat(500) });
    expect(long.ok && long.value.type === 'excludeExamples' && long.value.note.length).toBe(200);
  });
});
