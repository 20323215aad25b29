// The in-process Bus: a map from device to the handlers of its connections on this node.
import type { DeviceId, QueueItem } from '@sealpost/protocol';
import type { Bus, BusHandler, BusSignalHandler } from './bus.js';

interface Subscriber {
  item: BusHandler;
  signal: BusSignalHandler | undefined;
}

export function createLocalBus(): Bus {
  const subs = new Map<DeviceId, Set<Subscriber>>();
  return {
    publish(deliveries: { device: DeviceId; item: QueueItem }[]) {
      for (const { device, item } of deliveries) {
        const set = subs.get(device);
        if (set) for (const h of set) h.item(item);
      }
    },
    disconnect(devices: DeviceId[]) {
      for (const device of devices) for (const h of subs.get(device) ?? []) h.signal?.('disconnect');
    },
    async subscribe(device: DeviceId, handler: BusHandler, onSignal?: BusSignalHandler) {
      let set = subs.get(device);
      if (!set) subs.set(device, (set = new Set()));
      const sub: Subscriber = { item: handler, signal: onSignal };
      set.add(sub);
      return () => {
        set.delete(sub);
        if (set.size === 0) subs.delete(device);
      };
    },
    async close() {
      subs.clear();
    },
  };
}
