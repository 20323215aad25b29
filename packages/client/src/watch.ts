// `watch`: a live connection that processes pushes as they arrive, with the periodic checks a device owes.
import { SealpostError } from '@sealpost/protocol';
import type { Received } from './types.js';
import { ClientCore, ClientPart } from './core/client-core.js';
import type { Session } from './core/session.js';
import type { HeldRelease } from './held.js';
import type { Membership } from './membership.js';
import type { PolicyApplier } from './policy.js';
import type { Receiver } from './receiving.js';
import type { SelfMonitor } from './self-monitor.js';
import type { Sender } from './sending.js';
import { toReceived } from './received.js';

const SELF_CHECK_INTERVAL_MS = 5 * 60_000;

/** What an app shows of a live connection: whether it is up, and that something changed (a new conversation, a member). */
export interface WatchHooks {
  /** 'online' once connected and caught up; 'reconnecting' (next try in `retryMs`) after the connection dropped. */
  onStatus?: (status: 'online' | 'reconnecting', retryMs?: number) => void;
  /** After every processed push or catch-up: local state may have changed. */
  onChange?: () => void;
}

/**
 * Staying connected: pushes processed as they come (in order; a gap fetches the queue), reconnection with backoff,
 * and every few minutes the own label checked, the policy applied and held messages released.
 */
export class Watcher extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
    private readonly receiver: Receiver,
    private readonly membership: Membership,
    private readonly sender: Sender,
    private readonly policy: PolicyApplier,
    private readonly selfMonitor: SelfMonitor,
    private readonly held: HeldRelease,
  ) {
    super(core);
  }

  /**
   * Stay connected and hand each new message to `onMessage` until `signal` aborts. Reconnects with backoff.
   */
  watch(onMessage: (m: Received) => void, signal: AbortSignal, hooks: WatchHooks = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      let backoff = 500;
      let stopped = false;
      // A revoked or wiped device has nothing to reconnect for: end the watch with that error.
      let monitor: ReturnType<typeof setInterval> | undefined;
      const fatal = (err: unknown) => {
        if (!(err instanceof SealpostError) || !['DEVICE_REVOKED', 'DEVICE_WIPED'].includes(err.code)) return false;
        stopped = true;
        clearInterval(monitor);
        this.session.onPush = undefined;
        reject(err);
        return true;
      };
      const stop = () => {
        stopped = true;
        this.session.onPush = undefined;
        void this.session.socketPromise?.then((s) => s.close()).catch(() => {});
        resolve();
      };
      signal.addEventListener('abort', stop, { once: true });
      const loop = async () => {
        while (!stopped) {
          try {
            const closed = new Promise<void>((res) => {
              void (async () => {
                await this.serial(() => this.membership.flushPendingCommits());
                const sock = await this.session.socket();
                sock.onClose = () => res();
                let stalled = false;
                this.session.onPush = (item) => {
                  void this.serial(async () => {
                    if (stalled) return;
                    try {
                      if (await this.receiver.handlePush(sock, item)) await this.membership.applyRemovals();
                      for (const m of this.store.takeUnseen()) onMessage(toReceived(m));
                      hooks.onChange?.();
                    } catch (err) {
                      if (fatal(err)) return;
                      // Stop taking pushes; a fresh connection fetches from the queue in order.
                      stalled = true;
                      this.warn(`processing stopped: ${(err as Error).message}; reconnecting`);
                      sock.close();
                    }
                  });
                };
                await this.serial(async () => {
                  await this.receiver.syncInternal();
                  await this.membership.applyRemovals();
                  await this.sender.flushOutbox();
                  for (const m of this.store.takeUnseen()) onMessage(toReceived(m));
                });
                backoff = 500;
                hooks.onStatus?.('online');
                hooks.onChange?.();
              })().catch((err) => {
                if (!fatal(err)) this.warn(`connection problem: ${(err as Error).message}`);
                res();
              });
            });
            await closed;
          } catch (err) {
            this.warn(`connection problem: ${(err as Error).message}`);
          }
          if (stopped) break;
          hooks.onStatus?.('reconnecting', backoff);
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 30_000);
        }
      };
      // The own label is checked again every few minutes while watching (and on every sync).
      // So is the policy, with its scheduled key updates: a device that only ever watches heals too.
      monitor = setInterval(() => {
        void this.selfMonitor.monitorSelf().catch((err) => this.warn(`key-transparency self-check failed: ${(err as Error).message}`));
        void this.serial(() => this.policy.applyPolicy()).catch((err) => this.warn(`applying the policy failed: ${(err as Error).message}`));
        void this.held.releaseHeld().catch((err) => this.warn(`held messages stay held: ${(err as Error).message}`));
        void this.serial(() => this.membership.recheckHolds()).catch((err) => this.warn(`checking legal holds failed: ${(err as Error).message}`));
      }, this.options.selfCheckIntervalMs ?? SELF_CHECK_INTERVAL_MS);
      monitor.unref?.();
      signal.addEventListener('abort', () => clearInterval(monitor), { once: true });
      if (signal.aborted) stop();
      else void loop();
    });
  }
}
