// The request/reply helper (src/protocol/rpc.ts), after vscode-hexeditor's MessageHandler and
// gitlens's IpcRequest: a request's reply comes back typed and checked, paired by id through
// `inReplyTo`; a handler's error is a rejected promise; malformed parameters, replies and
// messages are refused with a logged reason; other messages are left to the caller.
import { describe, expect, it } from 'vitest';
import { decoder, Fields } from '../../src/protocol/decode';
import { requestType, Rpc, type RpcMessage } from '../../src/protocol/rpc';

const Add = requestType<{ a: number; b: number }, number>(
  'add',
  decoder((v) => {
    const f = Fields.of(v, 'params');
    return { a: f.num('a'), b: f.num('b') };
  }),
  decoder((v) => (typeof v === 'number' ? v : Fields.of({ v }, '').num('v'))),
);

/** Two ends joined like a webview and its host (messages delivered asynchronously, cloned as JSON). */
function pair() {
  const logs: { a: string[]; b: string[] } = { a: [], b: [] };
  const wire: { a: RpcMessage[]; b: RpcMessage[] } = { a: [], b: [] };
  const deliver = (to: () => Rpc, m: RpcMessage) => queueMicrotask(() => to().receive(JSON.parse(JSON.stringify(m))));
  const a: Rpc = new Rpc((m) => (wire.a.push(m), deliver(() => b, m)), (p) => logs.a.push(p));
  const b: Rpc = new Rpc((m) => (wire.b.push(m), deliver(() => a, m)), (p) => logs.b.push(p));
  return { a, b, logs, wire };
}

describe('rpc', () => {
  it('request resolves with the typed reply; the reply names its request in inReplyTo', async () => {
    const { a, b, wire } = pair();
    b.handle(Add, ({ a: x, b: y }) => x + y);
    const [three, seven] = await Promise.all([a.request(Add, { a: 1, b: 2 }), a.request(Add, { a: 3, b: 4 })]);
    expect([three, seven]).toEqual([3, 7]);
    expect(wire.a.map((m) => (m.type === 'request' ? m.id : -1))).toEqual([1, 2]);
    expect(wire.b.map((m) => (m.type === 'reply' ? m.inReplyTo : -1)).sort()).toEqual([1, 2]);
  });

  it("a handler's error comes back as a rejected promise with its message, and is logged where it happened", async () => {
    const { a, b, logs } = pair();
    b.handle(Add, async () => {
      throw new Error('no adding today');
    });
    await expect(a.request(Add, { a: 1, b: 2 })).rejects.toThrow('no adding today');
    expect(logs.b).toEqual(['request add (1) failed: no adding today']);
  });

  it('malformed parameters are refused with the reason, before the handler runs', async () => {
    const { a, b, logs } = pair();
    let ran = false;
    b.handle(Add, () => ((ran = true), 0));
    await expect(a.request(Add, { a: 1, b: 'two' } as never)).rejects.toThrow('add: "params.b" is "two", expected a number');
    expect(ran).toBe(false);
    expect(logs.b[0]).toMatch(/"params\.b" is "two"/);
  });

  it('a malformed reply is refused on the asking side', async () => {
    const { a, b, logs } = pair();
    b.handle(Add, () => 'three' as never);
    await expect(a.request(Add, { a: 1, b: 2 })).rejects.toThrow(/reply to add was malformed: "v" is "three", expected a number/);
    expect(logs.a).toHaveLength(1);
  });

  it('an unknown method is answered with an error; an unknown reply id and a malformed message are logged and dropped', async () => {
    const { a, logs } = pair();
    await expect(a.request(Add, { a: 1, b: 2 })).rejects.toThrow('no handler for add');
    const lone = new Rpc(() => {}, (p) => logs.a.push(p));
    expect(lone.receive({ type: 'reply', inReplyTo: 99, result: 1 })).toBe(true);
    expect(lone.receive({ type: 'request', id: -1, method: 'add' })).toBe(true);
    expect(logs.a.slice(-2)).toEqual(['reply to unknown request 99 dropped', 'message refused: "id" is -1, expected a whole number ≥ 0']);
  });

  it('messages that are not requests or replies are left to the caller', () => {
    const rpc = new Rpc(() => {});
    expect(rpc.receive({ type: 'ready' })).toBe(false);
    expect(rpc.receive('hello')).toBe(false);
  });

  it('dispose rejects every request still waiting', async () => {
    const rpc = new Rpc(() => {});
    const p = rpc.request(Add, { a: 1, b: 1 });
    rpc.dispose('the panel was closed');
    await expect(p).rejects.toThrow('the panel was closed');
  });
});
