// The client in a browser: the profile in IndexedDB (profile-store.idb.ts), MLS crypto from ts-mls's own provider
// (WebCrypto, @noble where WebCrypto lacks a primitive; our Ed25519 policy in front), the browser's WebSocket, and
// files as picked File objects and writable streams (files.browser.ts).
import { config as zodConfig } from 'zod';
import { limits } from '@sealpost/protocol';
import { SealpostClient as Client, type ClientPlatform, type WebSocketLike } from '@sealpost/client/browser';
import { IdbProfileStore } from './profile-store.idb.js';
import { BrowserFileTransfer } from './files.browser.js';

// The page's Content-Security-Policy forbids eval: zod must not compile validators with `new Function` (nor probe
// whether it may, which a strict CSP reports as a violation).
zodConfig({ jitless: true });

export const browserPlatform: ClientPlatform = {
  ciphersuite: () => undefined,
  openProfile: (name, opts) => IdbProfileStore.open(name, { create: opts.create, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) }),
  discardProfile(store) {
    store.erase();
  },
  files: (api, _store, token) => new BrowserFileTransfer(api, token),
  webSocket: (url) => new BrowserSocket(url),
};

/** The SDK's client on the browser platform. */
export class SealpostClient extends Client {
  protected static override platform(): ClientPlatform {
    return browserPlatform;
  }
}

/** The browser's WebSocket, refusing frames far larger than any the server sends (as `ws`'s maxPayload does in Node). */
class BrowserSocket implements WebSocketLike {
  private readonly ws: WebSocket;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = (e) => this.onopen?.(e);
    this.ws.onclose = (e) => this.onclose?.({ code: e.code, reason: e.reason });
    this.ws.onerror = (e) => this.onerror?.(e);
    this.ws.onmessage = (e) => {
      const size = e.data instanceof ArrayBuffer ? e.data.byteLength : String(e.data).length;
      if (size > 2 * limits.maxServerFrameBytes) return this.ws.close(1009, 'frame too large');
      this.onmessage?.({ data: e.data });
    };
  }
  get binaryType(): string {
    return this.ws.binaryType;
  }
  set binaryType(v: string) {
    this.ws.binaryType = v as BinaryType;
  }
  get readyState(): number {
    return this.ws.readyState;
  }
  send(data: Uint8Array): void {
    this.ws.send(data as Uint8Array<ArrayBuffer>);
  }
  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}
