// The Bus over NATS, for many server nodes. Each node subscribes to one subject of its own, sealpost.node.<id>
// (per node, not per user), and records in the store which devices are connected to it. Publishing looks up the
// recipients' nodes after the message is committed and sends each node one message for its devices.
// Ordering argument: a node records a device's presence before telling the device it is authenticated, and the
// device fetches its queue only after that; a message committed later is looked up later and so finds the node.
import { connect, type NatsConnection, type Subscription } from 'nats';
import { decodeCbor, encodeCbor, parseUnknown, randomBytes, toBase64Url, zDeviceId, zQueueItem, type DeviceId, type QueueItem } from '@sealpost/protocol';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { ServerStore } from '../store/store.js';
import type { Bus, BusHandler } from './bus.js';

const zPush = z.object({ items: z.array(z.object({ d: zDeviceId, i: zQueueItem }).strict()).max(10_000) }).strict();
const MAX_PUSH_BYTES = 64 * 1024 * 1024;

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

  return {
    nodeId,
    connection: nc,
    publish(deliveries) {
      const remote: typeof deliveries = [];
      for (const d of deliveries) {
        if (subs.has(d.device)) deliverLocal(d.device, d.item);
        remote.push(d);
      }
      if (remote.length === 0) return;
      void (async () => {
        const where = await opts.store.presenceOf([...new Set(remote.map((d) => d.device))]);
        const byNode = new Map<string, { d: DeviceId; i: QueueItem }[]>();
        for (const { device, node } of where) {
          if (node === nodeId) continue;
          for (const r of remote) if (r.device === device) (byNode.get(node) ?? byNode.set(node, []).get(node)!).push({ d: device, i: r.item });
        }
        for (const [node, items] of byNode) nc.publish(subject(node), encodeCbor({ items }));
      })().catch((err) => opts.log.warn({ err }, 'nats: push not sent (devices will fetch it from their queue)'));
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
      sub.unsubscribe();
      subs.clear();
      await opts.store.clearPresence(nodeId).catch(() => {});
      await nc.drain().catch(() => {});
    },
  };
}
