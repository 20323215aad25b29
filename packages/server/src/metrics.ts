// Prometheus metrics for one server node (GET /metrics): connections, messages in and out, queue depth, and how
// long the store takes to accept a message (the commit latency a sender waits for). A registry per server, so
// several servers in one process (tests) do not mix their numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServerStore } from './store/store.js';

export interface Metrics {
  registry: Registry;
  messagesIn: Counter<'kind'>;
  messagesPushed: Counter;
  appendSeconds: Histogram<'kind'>;
}

export function createMetrics(opts: { store: ServerStore; connections: () => number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sealpost_' });
  new Gauge({ name: 'sealpost_connections', help: 'Authenticated WebSocket connections on this node', registers: [registry], collect() {
    this.set(opts.connections());
  } });
  new Gauge({ name: 'sealpost_queue_depth', help: 'Queue items stored and not yet acknowledged (all devices)', registers: [registry], async collect() {
    this.set(await opts.store.queueDepth());
  } });
  return {
    registry,
    messagesIn: new Counter({ name: 'sealpost_messages_in_total', help: 'Messages accepted from devices', labelNames: ['kind'], registers: [registry] }),
    messagesPushed: new Counter({ name: 'sealpost_messages_pushed_total', help: 'Queue items pushed to connected devices', registers: [registry] }),
    appendSeconds: new Histogram({
      name: 'sealpost_store_append_seconds',
      help: 'Time for the store to accept a message or commit (durably queued for every recipient)',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
