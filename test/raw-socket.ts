// A raw WebSocket to the server for attack tests: sends exactly the bytes a test chooses and collects answers.
import WebSocket from 'ws';
import { decodeServerFrame, type ServerFrame } from '@sealpost/protocol';

export class RawSocket {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeServerFrame(new Uint8Array(data)));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  /** `localAddress`: another loopback address (127.0.0.2, …) to come from, for per-address limits. */
  static open(baseUrl: string, opts: { localAddress?: string } = {}): Promise<RawSocket> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/ws`, opts.localAddress ? { localAddress: opts.localAddress } : {});
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawSocket(ws)));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Wait (at most `timeoutMs`) until `n` frames have arrived or the socket closed. */
  async waitFrames(n: number, timeoutMs = 5000): Promise<ServerFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.frames;
  }

  async waitClosed(): Promise<{ code: number; reason: string } | undefined> {
    const deadline = Date.now() + 5000;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }
}
