// The web client's built files, read once at start into memory with their SHA-256 and a gzip copy: served from
// there (http/web-app.ts), and listed with their hashes so anyone can compare what this server serves with a build
// of the same version (`sealpost web verify`). A few hundred kilobytes; nothing is read from disk per request.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SealpostError } from '@sealpost/protocol';

export interface WebAsset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  /** SHA-256 of `body`, base64url. */
  sha256: string;
  /** Named by its content hash (Vite's assets/): cached for a year. */
  immutable: boolean;
}

export interface WebAssets {
  /** URL path (/index.html, /assets/index-….js) → asset. */
  files: Map<string, WebAsset>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};
const MAX_FILES = 500;
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;

export function hashAsset(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** Every file under `dir`, as its URL path and bytes (the same walk `sealpost web verify` does on a local build). */
export function readBuild(dir: string): Map<string, Buffer> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new SealpostError('CONFIG_INVALID', `${dir} holds no built web client (index.html); run \`npm run build\` first, or start with --no-web`);
  }
  const out = new Map<string, Buffer>();
  let total = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      if (!st.isFile()) continue;
      total += st.size;
      if (out.size >= MAX_FILES || total > MAX_TOTAL_BYTES) throw new SealpostError('CONFIG_INVALID', `${dir}: more than ${MAX_FILES} files or ${MAX_TOTAL_BYTES} bytes; is it the web client's build?`);
      out.set('/' + relative(dir, p).split(sep).join('/'), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

export function loadWebAssets(dir: string): WebAssets {
  const files = new Map<string, WebAsset>();
  for (const [path, body] of readBuild(dir)) {
    const ext = path.slice(path.lastIndexOf('.'));
    const type = TYPES[ext] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(type);
    files.set(path, {
      body,
      gzip: compressible && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined,
      type,
      sha256: hashAsset(body),
      immutable: path.startsWith('/assets/'),
    });
  }
  return { files };
}
