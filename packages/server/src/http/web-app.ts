// Serving the web client: its files from memory (web-assets.ts) under a strict Content-Security-Policy (scripts and
// connections only to this origin, no inline script, no framing), content-hashed assets cached for a year and the
// page itself revalidated every time; and GET /v1/web/manifest, the hashes of every file served, for code
// transparency (`sealpost web verify --server URL` compares them with a local build of the same version).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { VERSION } from '@sealpost/protocol';
import type { WebAssets } from '../web-assets.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // WebAssembly only (hash-wasm's SHA-256 for files); no JavaScript eval.
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

export function registerWebApp(app: FastifyInstance, web: WebAssets): void {
  const serve = (path: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const asset = web.files.get(path)!;
    void reply.headers(SECURITY_HEADERS);
    void reply.header('content-type', asset.type);
    void reply.header('etag', `"${asset.sha256}"`);
    void reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    void reply.header('vary', 'accept-encoding');
    if (req.headers['if-none-match'] === `"${asset.sha256}"`) return reply.status(304).send();
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) void reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };
  for (const path of web.files.keys()) {
    app.get(path, serve(path));
    if (path === '/index.html') app.get('/', serve(path));
  }
  const manifest = {
    version: VERSION,
    files: Object.fromEntries([...web.files].map(([path, a]) => [path, a.sha256])),
  };
  app.get('/v1/web/manifest', async () => manifest);
}
