// The Bus over NATS, for many server nodes. Each node subscribes to one subject of its own, sealpost.node.<id>
// (per node, not per user), and records in the store which devices are connected to it. Publishing looks up the
// recipients' nodes after the message is committed; the deliveries published in one turn of the event loop share
// one lookup, and each node gets them in as few NATS messages as its size limits allow, in publishing order.
// Ordering argument: a node records a device's presence before telling the device it is authenticated, and the
// device fetches its queue only after that; a message committed later is looked up later and so finds the node.
import { connect, type NatsConnection, type Subscription } from 'nats';
import { decodeCbor, encodeCbor, parseUnknown, randomBytes, toBase64Url, zDeviceId, zQueueItem, type DeviceId, type QueueItem } from '@sealpost/protocol';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { ServerStore } from '../store/store.js';
import type { Bus, BusHandler, BusSignal, BusSignalHandler } from './bus.js';

const MAX_PUSH_ITEMS = 10_000;
// A push is queue items for devices, and "disconnect" signals (`x`), in publishing order.
const zPush = z
  .object({
    items: z.array(z.union([z.object({ d: zDeviceId, i: zQueueItem }).strict(), z.object({ d: zDeviceId, x: z.literal('disconnect') }).strict()])).max(MAX_PUSH_ITEMS),
  })
  .strict();
const MAX_PUSH_BYTES = 64 * 1024 * 1024;
/** A bound on what one item adds to a push beyond its payload (ids, numbers, CBOR framing). */
const ITEM_OVERHEAD_BYTES = 512;

type Delivery = { device: DeviceId; item: QueueItem } | { device: DeviceId; signal: BusSignal };
type PushItem = { d: DeviceId; i: QueueItem } | { d: DeviceId; x: BusSignal };

/**
 * Items cut into pushes of at most MAX_PUSH_ITEMS and about `maxBytes` each (an item larger than that goes alone;
 * the NATS server refuses it if it exceeds its max_payload, and the device fetches it from its queue).
 */
export function splitPush<T extends PushItem>(items: T[], maxBytes: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    const size = ('i' in it ? it.i.p.byteLength : 0) + ITEM_OVERHEAD_BYTES;
    if (cur.length > 0 && (cur.length >= MAX_PUSH_ITEMS || bytes + size > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export interface NatsBusOptions {
  url: string;
  store: ServerStore;
  log: Logger;
  /** This node's id (default: random per process). */
  nodeId?: string;
}

export async function createNatsBus(opts: NatsBusOptions): Promise<Bus & { nodeId: string; connection: NatsConnection }> {
  const nodeId = opts.nodeId ?? `n_${toBase64Url(randomBytes(9))}`;
  const nc = await connect({ servers: opts.url, name: `sealpost-${nodeId}`, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  const subs = new Map<DeviceId, Set<{ item: BusHandler; signal: BusSignalHandler | undefined }>>();
  const registering = new Map<DeviceId, Promise<void>>();
  const subject = (node: string) => `sealpost.node.${node}`;

  const deliverLocal = (d: Delivery) => {
    const set = subs.get(d.device);
    if (set) for (const h of set) 'item' in d ? h.item(d.item) : h.signal?.(d.signal);
  };

  const sub: Subscription = nc.subscribe(subject(nodeId), {
    callback: (err, msg) => {
      if (err) return opts.log.error({ err }, 'nats: subscription error');
      try {
        const push = parseUnknown(zPush, decodeCbor(msg.data, MAX_PUSH_BYTES, 'push'), 'push');
        for (const p of push.items) deliverLocal('i' in p ? { device: p.d, item: p.i } : { device: p.d, signal: p.x });
      } catch (err) {
        opts.log.error({ err }, 'nats: malformed push ignored');
      }
    },
  });

  // Deliveries published in this turn of the event loop, sent together in the next; one turn's batch at a time,
  // so that this node's pushes leave in the order they were published even when a lookup is slow.
  let pending: Delivery[] = [];
  let flushing = false;
  let closed = false;
  let sending = Promise.resolve();
  const flushPending = () => {
    flushing = false;
    const batch = pending;
    pending = [];
    if (closed) return;
    sending = sending.then(() =>
      pushRemote(batch).catch((err) => opts.log.warn({ err }, 'nats: push not sent (devices will fetch it from their queue)')),
    );
  };
  async function pushRemote(batch: Delivery[]): Promise<void> {
    const where = await opts.store.presenceOf([...new Set(batch.map((d) => d.device))]);
    const nodesOf = new Map<DeviceId, string[]>();
    for (const { device, node } of where) {
      if (node !== nodeId) (nodesOf.get(device) ?? nodesOf.set(device, []).get(device)!).push(node);
    }
    const byNode = new Map<string, PushItem[]>();
    for (const r of batch) {
      const item: PushItem = 'item' in r ? { d: r.device, i: r.item } : { d: r.device, x: r.signal };
      for (const node of nodesOf.get(r.device) ?? []) (byNode.get(node) ?? byNode.set(node, []).get(node)!).push(item);
    }
    const maxBytes = Math.min(nc.info?.max_payload ?? 1024 * 1024, MAX_PUSH_BYTES);
    for (const [node, items] of byNode) {
      for (const part of splitPush(items, maxBytes)) {
        try {
          nc.publish(subject(node), encodeCbor({ items: part }));
        } catch (err) {
          opts.log.warn({ err, node, items: part.length }, 'nats: push not sent (devices will fetch it from their queue)');
        }
      }
    }
  }

  /** To this node's connections at once; to other nodes' in the next turn of the event loop, in order. */
  const send = (deliveries: Delivery[]) => {
    for (const d of deliveries) {
      if (subs.has(d.device)) deliverLocal(d);
      // The device may also be connected to other nodes.
      pending.push(d);
    }
    if (pending.length > 0 && !flushing) {
      flushing = true;
      setImmediate(flushPending);
    }
  };

  return {
    nodeId,
    connection: nc,
    publish(deliveries) {
      send(deliveries);
    },
    disconnect(devices) {
      send(devices.map((device) => ({ device, signal: 'disconnect' as const })));
    },
    async subscribe(device, handler, onSignal) {
      let set = subs.get(device);
      if (!set) {
        subs.set(device, (set = new Set()));
        const p = opts.store.addPresence(device, nodeId, Date.now());
        registering.set(device, p);
        try {
          await p;
        } finally {
          registering.delete(device);
        }
      } else {
        // A second connection of the device waits until its presence is recorded, like the first.
        await registering.get(device);
      }
      const subscriber = { item: handler, signal: onSignal };
      set.add(subscriber);
      return () => {
        set.delete(subscriber);
        if (set.size === 0 && subs.get(device) === set) {
          subs.delete(device);
          opts.store.removePresence(device, nodeId).catch(() => {});
        }
      };
    },
    async close() {
      closed = true;
      sub.unsubscribe();
      subs.clear();
      await opts.store.clearPresence(nodeId).catch(() => {});
      await nc.drain().catch(() => {});
    },
  };
}
