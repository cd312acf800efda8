// Requests with typed replies over a message channel (a webview's postMessage, a child process's
// IPC), after vscode-hexeditor's MessageHandler and gitlens's IpcRequest: a request type names its
// method and carries its parameter and reply types, with a decoder for each (the side that
// answers checks the parameters, the side that asks checks the reply), so
// `await rpc.request(LoadRuns, { runIds })` is a RunDetail[] without a cast. Each request has an
// id; the reply names it in `inReplyTo`; a handler's error comes back as a rejected promise.
// Messages that are not requests or replies are left to the caller. Pure: no vscode, no DOM.
import { decoder, Fields, isRecord, type Decoder } from './decode';

/** A request: its method, how its parameters and its reply are checked where they arrive. */
export interface RequestType<P, R> {
  readonly method: string;
  readonly params: Decoder<P>;
  readonly reply: Decoder<R>;
}

export function requestType<P, R>(method: string, params: Decoder<P>, reply: Decoder<R>): RequestType<P, R> {
  return { method, params, reply };
}

export interface RequestMessage {
  type: 'request';
  id: number;
  method: string;
  params: unknown;
}

export type ReplyMessage = { type: 'reply'; inReplyTo: number; result: unknown } | { type: 'reply'; inReplyTo: number; error: string };

export type RpcMessage = RequestMessage | ReplyMessage;

const decodeRpcMessage: Decoder<RpcMessage> = decoder((v) => {
  const f = Fields.of(v, '');
  if (f.oneOf('type', ['request', 'reply'] as const) === 'request') return { type: 'request', id: f.index('id'), method: f.str('method'), params: f.raw.params };
  const inReplyTo = f.index('inReplyTo');
  return f.has('error') ? { type: 'reply', inReplyTo, error: f.str('error') } : { type: 'reply', inReplyTo, result: f.raw.result };
});

/** Whether a message belongs to the request/reply layer (its `type` is 'request' or 'reply'). */
export function isRpcMessage(m: unknown): boolean {
  return isRecord(m) && (m.type === 'request' || m.type === 'reply');
}

interface Pending {
  settle: (result: unknown) => void;
  reject: (e: Error) => void;
}

/** One end of a channel: sends requests and awaits their replies, answers the other end's requests. */
export class Rpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, (params: unknown) => Promise<unknown>>();

  /**
   * `send` posts one message to the other end; `log` hears every message rejected here (a
   * malformed message, parameters or reply, an unknown method or reply id), with the reason.
   */
  constructor(
    private readonly send: (m: RpcMessage) => void,
    private readonly log: (problem: string) => void = () => {},
  ) {}

  /** Sends a request; resolves with the checked reply, rejects with the other end's error or why the reply was refused. */
  request<P, R>(type: RequestType<P, R>, params: P): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, {
        reject,
        settle: (result) => {
          const d = type.reply(result);
          if (d.ok) resolve(d.value);
          else {
            this.log(`reply to ${type.method} refused: ${d.error}`);
            reject(new Error(`the reply to ${type.method} was malformed: ${d.error}`));
          }
        },
      });
      this.send({ type: 'request', id, method: type.method, params });
    });
  }

  /** Answers `type`'s requests with `handler` (its parameters checked first); one handler per method. */
  handle<P, R>(type: RequestType<P, R>, handler: (params: P) => R | Promise<R>): void {
    if (this.handlers.has(type.method)) throw new Error(`${type.method} already has a handler`);
    this.handlers.set(type.method, async (raw) => {
      const d = type.params(raw);
      if (!d.ok) throw new Error(`${type.method}: ${d.error}`);
      return handler(d.value);
    });
  }

  /**
   * Feeds one incoming message. Returns false when it is not a request or reply (the caller
   * handles it); a request or reply that is malformed is logged and dropped.
   */
  receive(raw: unknown): boolean {
    if (!isRpcMessage(raw)) return false;
    const d = decodeRpcMessage(raw);
    if (!d.ok) {
      this.log(`message refused: ${d.error}`);
      return true;
    }
    const m = d.value;
    if (m.type === 'request') void this.answer(m);
    else {
      const p = this.pending.get(m.inReplyTo);
      if (!p) {
        this.log(`reply to unknown request ${m.inReplyTo} dropped`);
        return true;
      }
      this.pending.delete(m.inReplyTo);
      if ('error' in m) p.reject(new Error(m.error));
      else p.settle(m.result);
    }
    return true;
  }

  private async answer(m: RequestMessage): Promise<void> {
    const handler = this.handlers.get(m.method);
    try {
      if (!handler) throw new Error(`no handler for ${m.method}`);
      this.send({ type: 'reply', inReplyTo: m.id, result: await handler(m.params) });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log(`request ${m.method} (${m.id}) failed: ${error}`);
      this.send({ type: 'reply', inReplyTo: m.id, error });
    }
  }

  /** Rejects every request still waiting (the channel closed). */
  dispose(reason = 'the channel closed'): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }
}
