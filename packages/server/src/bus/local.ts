// The in-process Bus: a map from device to the handlers of its connections on this node.
import type { DeviceId, QueueItem } from '@sealpost/protocol';
import type { Bus, BusHandler } from './bus.js';

export function createLocalBus(): Bus {
  const subs = new Map<DeviceId, Set<BusHandler>>();
  return {
    publish(deliveries: { device: DeviceId; item: QueueItem }[]) {
      for (const { device, item } of deliveries) {
        const set = subs.get(device);
        if (set) for (const h of set) h(item);
      }
    },
    async subscribe(device: DeviceId, handler: BusHandler) {
      let set = subs.get(device);
      if (!set) subs.set(device, (set = new Set()));
      set.add(handler);
      return () => {
        set.delete(handler);
        if (set.size === 0) subs.delete(device);
      };
    },
    async close() {
      subs.clear();
    },
  };
}
