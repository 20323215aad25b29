// createServer: fastify HTTP API plus the WebSocket endpoint, from injected ports. No files, no globals.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import { timingSafeEqual } from 'node:crypto';
import { SealpostError, limits } from '@sealpost/protocol';
import { sha256 } from './auth/tokens.js';
import { bearer } from './auth/device-session.js';
import type { ServerContext } from './context.js';
import { handleHttpError, errorBody } from './http/errors.js';
import { registerRoutes } from './http/routes.js';
import { registerAdminRoutes } from './http/admin-routes.js';
import { registerScimRoutes } from './scim/scim-routes.js';
import { registerDeviceRoutes } from './http/device-routes.js';
import { registerArchiveRoutes } from './http/archive-routes.js';
import { KtLog } from './kt/kt-log.js';
import { registerKtRoutes } from './http/kt-routes.js';
import { registerBlobRoutes } from './http/blob-routes.js';
import { registerWebApp } from './http/web-app.js';
import type { WebAssets } from './web-assets.js';
import { startJobs } from './jobs.js';
import { ConnectionRegistry, handleConnection } from './ws/connection.js';
import { createMetrics } from './metrics.js';
import { registerMailRoutes } from './http/mail-routes.js';
import { startOutboundWorker, type OutboundOptions } from './mail/outbound.js';

export interface SealpostServer {
  app: FastifyInstance;
  /** The ports it was built from (tests reach the store through it). */
  ctx: ServerContext;
  connections: ConnectionRegistry;
  /** Listen; returns the base URL (http://host:port). */
  listen(host: string, port: number): Promise<string>;
  close(): Promise<void>;
}

export interface TlsOptions {
  cert: Buffer;
  key: Buffer;
}

export interface HttpTimeouts {
  /** A whole request, headers and body (default 2 minutes: an 8 MiB upload part at 560 kbit/s). */
  requestTimeoutMs?: number;
  /** An idle HTTP connection (default 1 minute). Upgraded WebSockets are not affected. */
  connectionTimeoutMs?: number;
}

export function createServer(ctx: ServerContext, opts: { tls?: TlsOptions; timeouts?: HttpTimeouts; web?: WebAssets; outbound?: OutboundOptions } = {}): SealpostServer {
  const requestTimeout = opts.timeouts?.requestTimeoutMs ?? 120_000;
  const checkEvery = Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 4)));
  const app = Fastify({
    loggerInstance: ctx.log,
    // fastify's own two lines per request at info are replaced by one at debug (the onResponse hook below).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxJsonBodyBytes,
    // A slow body no longer holds a socket open (fastify's defaults are no timeouts at all).
    requestTimeout,
    connectionTimeout: opts.timeouts?.connectionTimeoutMs ?? 60_000,
    // User ids are up to 320 characters, percent-encoded in paths.
    routerOptions: { maxParamLength: 1000 },
    // Node checks request timeouts on this interval (30 s by default), so it follows the timeout; given at
    // construction, requestTimeout also sets Node's headersTimeout to at most itself (set later, it does not, and
    // then a body dripping in a byte at a time was never timed out).
    ...(opts.tls
      ? { https: { cert: opts.tls.cert, key: opts.tls.key, connectionsCheckingInterval: checkEvery, requestTimeout } }
      : { http: { connectionsCheckingInterval: checkEvery, requestTimeout } }),
  }) as unknown as FastifyInstance;
  app.setErrorHandler(handleHttpError);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(errorBody('INVALID_INPUT', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  const connections = new ConnectionRegistry();
  const metrics = createMetrics({ store: ctx.store, connections: () => connections.size, freeBytes: () => ctx.blobs.freeBytes() });
  ctx.metrics = metrics;
  // One line per request at debug (info would be ten lines per sync): method, route pattern and status, never a URL.
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? '(no route)';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.httpSeconds.observe({ route }, seconds);
    req.log.debug({ method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  registerRoutes(app, ctx);
  registerBlobRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerScimRoutes(app, ctx);
  registerDeviceRoutes(app, ctx);
  registerArchiveRoutes(app, ctx);
  const kt = new KtLog(ctx.store, ctx.cs, ctx.ktKeys, ctx.clock, ctx.log);
  ctx.kt = kt;
  registerKtRoutes(app, ctx, kt);
  const outbound = startOutboundWorker(ctx, opts.outbound);
  registerMailRoutes(app, ctx, outbound.kick);
  if (opts.web) registerWebApp(app, opts.web);
  const stopJobs = startJobs(ctx, kt);

  // Metrics tell who is busy when: behind their own token (the data folder's metrics-token), not public.
  app.get('/metrics', async (req, reply) => {
    const token = bearer(req);
    if (!token || !timingSafeEqual(sha256(token), ctx.metricsTokenHash)) {
      throw new SealpostError('UNAUTHENTICATED', 'metrics need the metrics token (Authorization: Bearer …; the data folder\'s metrics-token file)');
    }
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  // ws enforces a hard ceiling above our frame limit, so a frame a little too large gets a clear `err` frame,
  // and only an absurdly large one closes the socket (1009).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 2 * limits.maxFrameBytes, perMessageDeflate: false });
  app.server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const address = req.socket.remoteAddress ?? '';
    try {
      ctx.rateLimits.wsUpgrades.take(address);
    } catch {
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 5\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Counted once the upgrade succeeded (a failed handshake never reaches here, so never leaks a count).
      const admitted = connections.tryOpen(address);
      if (admitted === 'ok') return handleConnection(ctx, connections, ws, address);
      ws.close(1013, admitted === 'server-full' ? 'server is full; try again later' : 'too many unauthenticated connections from this address');
    });
  });

  return {
    app,
    ctx,
    connections,
    async listen(host, port) {
      // A node serves key-transparency answers only once it has loaded (and checked) the log; a fresh log gets its
      // first epoch now, so there is always a signed head.
      await kt.publish();
      await app.listen({ host, port });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('server has no TCP address');
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `${opts.tls ? 'https' : 'http'}://${h}:${addr.port}`;
    },
    async close() {
      stopJobs();
      await outbound.stop();
      await kt.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      // In-flight requests get a grace period; a connection a client abandoned without closing must not hold
      // shutdown forever.
      const force = setTimeout(() => app.server.closeAllConnections(), 5_000);
      force.unref();
      await app.close();
      clearTimeout(force);
      await ctx.bus.close();
      await ctx.store.close();
    },
  };
}
