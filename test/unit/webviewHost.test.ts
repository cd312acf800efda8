// The panel's end of the channel (webview/host.ts): LoadRuns and EvaluateRun replies are checked
// before they reach the store (a malformed one shows as an error, not as a run), host
// notifications are delivered, and anything else the webview receives is dropped.
import { describe, expect, it } from 'vitest';
import type { RunDetail } from '../../src/protocol/panel';
import type { RpcMessage } from '../../src/protocol/rpc';
import { PanelChannel } from '../../webview/host';

const detail: RunDetail = {
  summary: { id: 'r1', dir: '/ws/r1', name: 'r1', status: 'completed', createdAt: '2024-05-01T10:00:00Z', model: '/m', dataset: '/d', bestValLoss: null },
  record: { id: 'r1', dir: '/ws/r1', name: 'r1', status: 'completed', createdAt: '2024-05-01T10:00:00Z', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d', sha256: 's' } },
  metrics: [{ type: 'step', step: 1, epoch: 0.1, loss: 2, lr: 1e-4, gradNorm: 1, tokens: 10, tokensPerSec: 100, elapsedMs: 10 }],
};

function channel() {
  const sent: unknown[] = [];
  const delivered: unknown[] = [];
  const warnings: string[] = [];
  const ch = new PanelChannel({ send: (m) => sent.push(m), deliver: (m) => delivered.push(m), warn: (p) => warnings.push(p) });
  const lastRequest = () => sent.at(-1) as Extract<RpcMessage, { type: 'request' }>;
  return { ch, sent, delivered, warnings, lastRequest };
}

describe('the panel end of the channel', () => {
  it('a LoadRuns reply becomes one runDetail per run', async () => {
    const { ch, delivered, lastRequest } = channel();
    const done = ch.loadRuns(['r1']);
    expect(lastRequest()).toEqual({ type: 'request', id: 1, method: 'loadRuns', params: { runIds: ['r1'] } });
    ch.receive(JSON.parse(JSON.stringify({ type: 'reply', inReplyTo: 1, result: [detail] })));
    expect(await done).toBe(true);
    expect(delivered).toEqual([{ type: 'runDetail', detail }]);
  });

  it('a malformed reply (a metric row with a string loss) is refused: an error is shown, no run is stored', async () => {
    const { ch, delivered, warnings } = channel();
    const done = ch.loadRuns(['r1']);
    ch.receive({ type: 'reply', inReplyTo: 1, result: [{ ...detail, metrics: [{ ...detail.metrics[0], loss: '2' }] }] });
    expect(await done).toBe(false);
    expect(delivered).toEqual([{ type: 'error', message: expect.stringMatching(/"details\[0\]\.metrics\[0\]\.loss" is "2", expected a number/) }]);
    expect(warnings).toHaveLength(1);
  });

  it("the host's refusal (an error reply) is shown as an error", async () => {
    const { ch, delivered } = channel();
    ch.evaluate('r1');
    ch.receive({ type: 'reply', inReplyTo: 1, error: 'Run "r1" refused: no run "r1" under /ws.' });
    await new Promise((r) => setTimeout(r, 0));
    expect(delivered).toEqual([{ type: 'error', message: 'Run "r1" refused: no run "r1" under /ws.' }]);
  });

  it('host notifications are delivered; anything else is dropped', () => {
    const { ch, delivered } = channel();
    ch.receive({ type: 'error', message: 'x' });
    ch.receive({ type: 'focusRun', runId: 'gone' });
    ch.receive('noise');
    expect(delivered).toEqual([{ type: 'error', message: 'x' }]);
  });
});
