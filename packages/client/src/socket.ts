// The client's WebSocket to the server: authenticate, then request/answer by request id, plus pushed queue items.
// Runtime-neutral: it takes a WebSocket constructor (`ws` in Node, the global one in browsers).
import {
  SealpostError,
  decodeServerFrame,
  encodeFrame,
  limits,
  type ClientFrame,
  type QueueItem,
  type ServerFrame,
} from '@sealpost/protocol';

export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

type Answer = Extract<ServerFrame, { t: 'ok' } | { t: 'batch' }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type Request = DistributiveOmit<Exclude<ClientFrame, { t: 'auth' } | { t: 'ack' }>, 'r'>;

const REQUEST_TIMEOUT_MS = 30_000;

export class ServerSocket {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (f: Answer) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private closed = false;
  onPush: ((item: QueueItem) => void) | undefined;
  onClose: ((reason: string) => void) | undefined;

  private constructor(private readonly ws: WebSocketLike) {}

  static connect(factory: WebSocketFactory, baseUrl: string, token: string): Promise<ServerSocket> {
    const url = new URL('/v1/ws', baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = factory(url.toString());
    ws.binaryType = 'arraybuffer';
    const sock = new ServerSocket(ws);
    return new Promise((resolve, reject) => {
      let authed = false;
      const timer = setTimeout(() => {
        reject(new SealpostError('SERVER_UNREACHABLE', 'WebSocket: no answer to authentication'));
        ws.close();
      }, REQUEST_TIMEOUT_MS);
      ws.onopen = () => ws.send(encodeFrame({ t: 'auth', token }));
      ws.onerror = () => {
        if (!authed) {
          clearTimeout(timer);
          reject(new SealpostError('SERVER_UNREACHABLE', `WebSocket: cannot connect to ${url.host}`));
        }
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!authed) reject(new SealpostError('SERVER_UNREACHABLE', `WebSocket closed before authentication (${ev.code} ${ev.reason})`));
        sock.handleClose(`${ev.code} ${ev.reason}`.trim(), ev.code);
      };
      ws.onmessage = (ev) => {
        let frame: ServerFrame;
        try {
          frame = decodeServerFrame(toBytes(ev.data));
        } catch (err) {
          sock.fail(err as Error);
          return;
        }
        if (!authed) {
          clearTimeout(timer);
          if (frame.t === 'auth-ok') {
            authed = true;
            resolve(sock);
          } else {
            reject(frame.t === 'err' ? new SealpostError(frame.code, frame.message) : new SealpostError('PROTOCOL_ERROR', `unexpected ${frame.t} before auth-ok`));
            ws.close();
          }
          return;
        }
        sock.handleFrame(frame);
      };
    });
  }

  private revoked = false;

  get isOpen(): boolean {
    return !this.closed;
  }

  request<T extends Request>(frame: T): Promise<T extends { t: 'fetch' } ? Extract<ServerFrame, { t: 'batch' }> : Extract<ServerFrame, { t: 'ok' }>> {
    if (this.closed) {
      return Promise.reject(this.revoked ? new SealpostError('DEVICE_REVOKED', 'the server closed this connection: the device was revoked') : new SealpostError('SERVER_UNREACHABLE', 'WebSocket is closed'));
    }
    const r = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(r);
        reject(new SealpostError('SERVER_UNREACHABLE', `no answer to ${frame.t} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(r, { resolve: resolve as (f: Answer) => void, reject, timer });
      this.ws.send(encodeFrame({ ...frame, r } as ClientFrame));
    });
  }

  /**
   * Acknowledge processed items. The acks of one turn of the event loop go in one frame (a burst of pushes is
   * acknowledged together); an ack lost with the connection only means the item comes again and is recognised.
   */
  ack(seqs: number[]): void {
    if (seqs.length === 0 || this.closed) return;
    if (this.acks.length === 0) setTimeout(() => this.flushAcks(), 0);
    this.acks.push(...seqs);
  }
  private acks: number[] = [];

  private flushAcks(): void {
    const seqs = this.acks;
    this.acks = [];
    if (this.closed) return;
    for (let i = 0; i < seqs.length; i += limits.maxAckBatch) this.ws.send(encodeFrame({ t: 'ack', seqs: seqs.slice(i, i + limits.maxAckBatch) }));
  }

  close(): void {
    this.flushAcks();
    if (!this.closed) this.ws.close(1000, 'bye');
    this.handleClose('closed by client');
  }

  private handleFrame(frame: ServerFrame): void {
    if (frame.t === 'push') {
      this.onPush?.(frame.item);
      return;
    }
    if ((frame.t === 'ok' || frame.t === 'batch' || frame.t === 'err') && frame.r !== undefined) {
      const p = this.pending.get(frame.r);
      if (!p) return;
      this.pending.delete(frame.r);
      clearTimeout(p.timer);
      if (frame.t === 'err') {
        p.reject(new SealpostError(frame.code, frame.message, frame.epoch === undefined ? undefined : { details: { epoch: frame.epoch } }));
      } else p.resolve(frame);
    }
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private handleClose(reason: string, code?: number): void {
    if (this.closed) return;
    this.closed = true;
    // 4003: the server ended this device's connections (revoked, wiped, or its user disabled). Not a network
    // problem to retry: the caller asks the server what happened by signing in again.
    this.revoked = code === 4003;
    this.fail(
      this.revoked
        ? new SealpostError('DEVICE_REVOKED', 'the server closed this connection: the device was revoked or its user disabled')
        : new SealpostError('SERVER_UNREACHABLE', `WebSocket closed (${reason})`),
    );
    this.onClose?.(reason);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new SealpostError('MALFORMED_FRAME', 'frame: expected binary data');
}
