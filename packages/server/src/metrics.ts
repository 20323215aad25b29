// Prometheus metrics for one server node (GET /metrics): connections, messages in and out, queue depth, how long
// the store takes to accept a message (the commit latency a sender waits for), HTTP requests by route and status
// with their latency, and storage (blobs stored, free space where they are). A registry per server, so several
// servers in one process (tests) do not mix their numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServerStore } from './store/store.js';

export interface Metrics {
  registry: Registry;
  messagesIn: Counter<'kind'>;
  messagesPushed: Counter;
  appendSeconds: Histogram<'kind'>;
  /** Every HTTP answer, by method, route pattern (never a URL) and status code. */
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpSeconds: Histogram<'route'>;
}

export function createMetrics(opts: { store: ServerStore; connections: () => number; freeBytes: () => Promise<number> }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sealpost_' });
  new Gauge({ name: 'sealpost_connections', help: 'Authenticated WebSocket connections on this node', registers: [registry], collect() {
    this.set(opts.connections());
  } });
  new Gauge({ name: 'sealpost_queue_depth', help: 'Queue items stored and not yet acknowledged (all devices)', registers: [registry], async collect() {
    this.set(await opts.store.queueDepth());
  } });
  new Gauge({ name: 'sealpost_blobs', help: 'Encrypted files stored (complete or uploading), all users', registers: [registry], async collect() {
    this.set((await opts.store.blobTotals()).count);
  } });
  new Gauge({ name: 'sealpost_blob_bytes', help: 'Bytes of encrypted files stored (as declared at upload), all users', registers: [registry], async collect() {
    this.set((await opts.store.blobTotals()).bytes);
  } });
  new Gauge({ name: 'sealpost_data_free_bytes', help: 'Bytes free on the volume the blobs are on (uploads stop below --min-free-disk)', registers: [registry], async collect() {
    this.set(await opts.freeBytes());
  } });
  return {
    registry,
    httpRequests: new Counter({ name: 'sealpost_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status code', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    httpSeconds: new Histogram({
      name: 'sealpost_http_request_seconds',
      help: 'Time to answer an HTTP request, by route pattern',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
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
