// Bus: tells the node that holds a device's connection that the device has new queue items.
// In-process by default; NATS for many nodes (a later adapter with the same contract).
import type { DeviceId, QueueItem } from '@sealpost/protocol';

export type BusHandler = (item: QueueItem) => void;

export interface Bus {
  publish(device: DeviceId, item: QueueItem): void;
  /** Returns the function that ends the subscription. */
  subscribe(device: DeviceId, handler: BusHandler): () => void;
  close(): Promise<void>;
}
