// One device's WebSocket: binary CBOR frames, authenticated by the first frame, then send/commit/fetch/ack requests
// and server pushes of new queue items. Bad frames get an `err` frame; the connection and the server carry on.
import type { WebSocket } from 'ws';
import {
  SealpostError,
  decodeClientFrame,
  encodeFrame,
  limits,
  toSealpostError,
  type ClientFrame,
  type DeviceId,
  type QueueItem,
  type ServerFrame,
  type UserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { authenticateDevice, noteActivity } from '../auth/device-session.js';
import type { AppendResult } from '../store/store.js';
import { fetchBatch } from '../delivery/fetch-batch.js';

const AUTH_TIMEOUT_MS = 10_000;
const MAX_BAD_FRAMES = 20;
/** Above this much unsent data the client is too slow: close, and let it reconnect and fetch from its queue. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Requests of one connection waiting to be handled, beyond which the server stops reading from its socket until
 * half are done: a client sending faster than the server stores is slowed by TCP (backpressure) instead of
 * growing the server's memory.
 */
export const MAX_PENDING_REQUESTS = 64;

/** Sockets on this node, authenticated or not: beyond this an upgrade is refused (503). */
export const MAX_SOCKETS = 100_000;
/** Sockets of one source address that have not authenticated yet (each is closed after AUTH_TIMEOUT_MS). */
export const MAX_UNAUTHENTICATED_PER_ADDRESS = 64;

export class ConnectionRegistry {
  private readonly perDevice = new Map<DeviceId, number>();
  private readonly unauthenticated = new Map<string, number>();
  /** Every open socket, authenticated or not. */
  sockets = 0;

  /** Whether a new socket from `address` may be opened; counts it as unauthenticated when so. */
  tryOpen(address: string): 'ok' | 'server-full' | 'address-full' {
    if (this.sockets >= MAX_SOCKETS) return 'server-full';
    const n = this.unauthenticated.get(address) ?? 0;
    if (n >= MAX_UNAUTHENTICATED_PER_ADDRESS) return 'address-full';
    this.unauthenticated.set(address, n + 1);
    this.sockets++;
    return 'ok';
  }
  /** The socket authenticated, or closed before it did. */
  leaveUnauthenticated(address: string): void {
    const n = (this.unauthenticated.get(address) ?? 1) - 1;
    if (n <= 0) this.unauthenticated.delete(address);
    else this.unauthenticated.set(address, n);
  }
  closed(): void {
    this.sockets--;
  }

  tryAdd(device: DeviceId): boolean {
    const n = this.perDevice.get(device) ?? 0;
    if (n >= limits.maxConnectionsPerDevice) return false;
    this.perDevice.set(device, n + 1);
    return true;
  }
  remove(device: DeviceId): void {
    const n = (this.perDevice.get(device) ?? 1) - 1;
    if (n <= 0) this.perDevice.delete(device);
    else this.perDevice.set(device, n);
  }
  /** Authenticated connections. */
  get size(): number {
    let n = 0;
    for (const v of this.perDevice.values()) n += v;
    return n;
  }
}

/** A socket `registry.tryOpen(address)` admitted. */
export function handleConnection(ctx: ServerContext, registry: ConnectionRegistry, ws: WebSocket, address: string): void {
  let me: { device: DeviceId; user: UserId } | undefined;
  let counted = true; // among the address's unauthenticated sockets
  const leaveUnauthenticated = () => {
    if (counted) registry.leaveUnauthenticated(address);
    counted = false;
  };
  let unsubscribe: (() => void) | undefined;
  let badFrames = 0;
  let queue = Promise.resolve();
  let pending = 0;

  const send = (frame: ServerFrame) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(encodeFrame(frame), { binary: true });
  };
  const sendError = (err: unknown, r?: number, epoch?: number) => {
    const e = toSealpostError(err);
    if (e.code === 'INTERNAL') ctx.log.error({ err: e.cause ?? e, device: me?.device }, 'ws: internal error');
    send({ t: 'err', ...(r === undefined ? {} : { r }), code: e.code, message: e.message, ...(epoch === undefined ? {} : { epoch }) });
  };

  const authTimer = setTimeout(() => {
    if (!me) ws.close(4001, 'authentication timeout');
  }, AUTH_TIMEOUT_MS);

  let sessionTimer: ReturnType<typeof setTimeout> | undefined;
  ws.on('close', () => {
    leaveUnauthenticated();
    registry.closed();
    clearTimeout(authTimer);
    clearTimeout(sessionTimer);
    unsubscribe?.();
    if (me) registry.remove(me.device);
  });
  ws.on('error', () => ws.terminate());

  ws.on('message', (data, isBinary) => {
    if (me) noteActivity(ctx, me.device);
    // Requests of one connection are handled in order, one at a time; too many waiting pause the socket.
    if (++pending >= MAX_PENDING_REQUESTS && !ws.isPaused) ws.pause();
    queue = queue
      .then(() => onMessage(data as Buffer, isBinary))
      .catch((err) => sendError(err))
      .finally(() => {
        if (--pending <= MAX_PENDING_REQUESTS / 2 && ws.isPaused && ws.readyState === ws.OPEN) ws.resume();
      });
  });

  async function onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    let frame: ClientFrame;
    try {
      if (!isBinary) throw new SealpostError('MALFORMED_FRAME', 'frame: text frames are not accepted; send binary CBOR');
      frame = decodeClientFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (err) {
      badFrames++;
      sendError(err);
      if (badFrames >= MAX_BAD_FRAMES) ws.close(1008, 'too many malformed frames');
      return;
    }
    if (frame.t === 'auth') return onAuth(frame.token);
    const r = 'r' in frame ? frame.r : undefined;
    if (!me) return sendError(new SealpostError('UNAUTHENTICATED', 'send an auth frame first'), r);
    // A failure (a store error, say) is answered with the request's id, so the client does not wait for a timeout.
    try {
      await handleRequest(frame, me);
    } catch (err) {
      sendError(err, r);
    }
  }

  async function handleRequest(frame: Exclude<ClientFrame, { t: 'auth' }>, sender: { device: DeviceId; user: UserId }): Promise<void> {
    switch (frame.t) {
      case 'send': {
        const res = await measured('app', () => ctx.store.appendMessage({
          conversation: frame.c,
          sender,
          epoch: frame.e,
          id: frame.id,
          payload: frame.p,
          now: ctx.clock.now(),
          ...(frame.b ? { blobs: frame.b } : {}),
        }));
        return answer(frame.r, res);
      }
      case 'commit': {
        const res = await measured('commit', () => ctx.store.appendCommit({
          conversation: frame.c,
          sender,
          epoch: frame.e,
          id: frame.id,
          payload: frame.p,
          welcome: frame.w,
          add: frame.add,
          remove: frame.remove,
          now: ctx.clock.now(),
        }));
        if (res.kind === 'ok' && !res.duplicate) ctx.log.info({ conversation: frame.c, epoch: res.epoch, device: sender.device }, 'commit accepted');
        return answer(frame.r, res);
      }
      case 'fetch': {
        const { items, more } = await fetchBatch(ctx.store, sender.device, frame.after, frame.limit);
        return send({ t: 'batch', r: frame.r, items, more });
      }
      case 'ack': {
        await ctx.store.ack(sender.device, frame.seqs);
        return;
      }
    }
  }

  /** Time a store append and count it when it stored something new. */
  async function measured(kind: 'app' | 'commit', run: () => Promise<AppendResult>): Promise<AppendResult> {
    const stop = ctx.metrics?.appendSeconds.startTimer({ kind });
    const res = await run();
    stop?.();
    if (res.kind === 'ok' && !res.duplicate) ctx.metrics?.messagesIn.inc({ kind });
    return res;
  }

  function answer(r: number, res: AppendResult): void {
    switch (res.kind) {
      case 'ok':
        send({ t: 'ok', r, epoch: res.epoch });
        if (res.deliveries.length > 0) ctx.bus.publish(res.deliveries);
        return;
      case 'epoch-conflict':
        return sendError(new SealpostError('EPOCH_CONFLICT', `conversation is at epoch ${res.epoch}`), r, res.epoch);
      case 'not-found':
        return sendError(new SealpostError('CONVERSATION_NOT_FOUND', 'no such conversation'), r);
      case 'not-member':
        return sendError(new SealpostError('NOT_A_MEMBER', 'this device is not a member of the conversation'), r);
      case 'invalid':
        return sendError(new SealpostError('INVALID_INPUT', res.message), r);
      case 'blob-not-found':
        return sendError(new SealpostError('BLOB_NOT_FOUND', `blob ${res.blob} is not complete or not available to this device`), r);
    }
  }

  async function onAuth(token: string): Promise<void> {
    if (me) return sendError(new SealpostError('INVALID_INPUT', 'already authenticated'));
    let session: { device: DeviceId; user: UserId; expiresAt: number };
    try {
      session = await authenticateDevice(ctx, token);
    } catch (err) {
      sendError(err);
      ws.close(4001, 'authentication failed');
      return;
    }
    // Closed while the store looked the session up: taking a slot now would keep it forever (the close handler
    // has already run), and four such sockets locked a device out.
    if (ws.readyState !== ws.OPEN) return;
    if (!registry.tryAdd(session.device)) {
      sendError(new SealpostError('TOO_MANY_CONNECTIONS', `at most ${limits.maxConnectionsPerDevice} connections per device`));
      ws.close(4029, 'too many connections');
      return;
    }
    me = { device: session.device, user: session.user };
    leaveUnauthenticated();
    clearTimeout(authTimer);
    // A connection lives no longer than the session that opened it; the client signs in again.
    sessionTimer = setTimeout(() => ws.close(4001, 'session expired'), Math.max(0, session.expiresAt - ctx.clock.now()));
    sessionTimer.unref?.();
    const off = await ctx.bus.subscribe(
      session.device,
      (item: QueueItem) => {
        if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
          ws.close(1013, 'client too slow; reconnect and fetch');
          return;
        }
        send({ t: 'push', item });
        ctx.metrics?.messagesPushed.inc();
      },
      // This device was revoked (or its user disabled), on whichever node that happened.
      () => ws.close(4003, 'device revoked'),
    );
    if (ws.readyState !== ws.OPEN) {
      off(); // closed while subscribing
      return;
    }
    unsubscribe = off;
    // Only now: once subscribed, a fetch the client makes next cannot miss an item that is not pushed.
    send({ t: 'auth-ok', user: session.user, device: session.device });
  }
}
