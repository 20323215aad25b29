// Bus: tells the node that holds a device's connection that the device has new queue items, or that its
// connections must close (the device was revoked or its user disabled). In-process by default (local.ts); NATS for
// many nodes (nats.ts), with the same contract.
import type { DeviceId, QueueItem } from '@sealpost/protocol';

export type BusHandler = (item: QueueItem) => void;
/** A control signal for a device's connections: a signal of its own, never a queue item. */
export type BusSignal = 'disconnect';
export type BusSignalHandler = (signal: BusSignal) => void;

export interface Bus {
  /** Push new queue items to whichever node holds each device's connections. Best effort: the queue is the truth. */
  publish(deliveries: { device: DeviceId; item: QueueItem }[]): void;
  /** Close every connection these devices hold, on whichever node; after the pushes published before it. */
  disconnect(devices: DeviceId[]): void;
  /**
   * Receive pushes (and signals) for a device connected to this node. Resolves once other nodes can find the
   * device, so a fetch made after it sees every item that is not pushed. Returns the function that ends the
   * subscription.
   */
  subscribe(device: DeviceId, handler: BusHandler, onSignal?: BusSignalHandler): Promise<() => void>;
  close(): Promise<void>;
}
