// Bus: tells the node that holds a device's connection that the device has new queue items.
// In-process by default; NATS for many nodes (a later adapter with the same contract).
import type { DeviceId, QueueItem } from '@sealpost/protocol';

export type BusHandler = (item: QueueItem) => void;

export interface Bus {
  /** Push new queue items to whichever node holds each device's connections. Best effort: the queue is the truth. */
  publish(deliveries: { device: DeviceId; item: QueueItem }[]): void;
  /**
   * Receive pushes for a device connected to this node. Resolves once other nodes can find the device, so a fetch
   * made after it sees every item that is not pushed. Returns the function that ends the subscription.
   */
  subscribe(device: DeviceId, handler: BusHandler): Promise<() => void>;
  close(): Promise<void>;
}
