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
import type { Bus, BusHandler } from './bus.js';

const MAX_PUSH_ITEMS = 10_000;
const zPush = z.object({ items: z.array(z.object({ d: zDeviceId, i: zQueueItem }).strict()).max(MAX_PUSH_ITEMS) }).strict();
const MAX_PUSH_BYTES = 64 * 1024 * 1024;
/** A bound on what one item adds to a push beyond its payload (ids, numbers, CBOR framing). */
const ITEM_OVERHEAD_BYTES = 512;

type Delivery = { device: DeviceId; item: QueueItem };
type PushItem = { d: DeviceId; i: QueueItem };

/**
 * Items cut into pushes of at most MAX_PUSH_ITEMS and about `maxBytes` each (an item larger than that goes alone;
 * the NATS server refuses it if it exceeds its max_payload, and the device fetches it from its queue).
 */
export function splitPush(items: PushItem[], maxBytes: number): PushItem[][] {
  const out: PushItem[][] = [];
  let cur: PushItem[] = [];
  let bytes = 0;
  for (const it of items) {
    const size = it.i.p.byteLength + ITEM_OVERHEAD_BYTES;
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
  const subs = new Map<DeviceId, Set<BusHandler>>();
  const registering = new Map<DeviceId, Promise<void>>();
  const subject = (node: string) => `sealpost.node.${node}`;

  const deliverLocal = (device: DeviceId, item: QueueItem) => {
    const set = subs.get(device);
    if (set) for (const h of set) h(item);
  };

  const sub: Subscription = nc.subscribe(subject(nodeId), {
    callback: (err, msg) => {
      if (err) return opts.log.error({ err }, 'nats: subscription error');
      try {
        const push = parseUnknown(zPush, decodeCbor(msg.data, MAX_PUSH_BYTES, 'push'), 'push');
        for (const { d, i } of push.items) deliverLocal(d, i);
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
      for (const node of nodesOf.get(r.device) ?? []) (byNode.get(node) ?? byNode.set(node, []).get(node)!).push({ d: r.device, i: r.item });
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

  return {
    nodeId,
    connection: nc,
    publish(deliveries) {
      for (const d of deliveries) {
        if (subs.has(d.device)) deliverLocal(d.device, d.item);
        // The device may also be connected to other nodes.
        pending.push(d);
      }
      if (pending.length > 0 && !flushing) {
        flushing = true;
        setImmediate(flushPending);
      }
    },
    async subscribe(device, handler) {
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
      set.add(handler);
      return () => {
        set.delete(handler);
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
