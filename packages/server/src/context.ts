// The ports a server is built from. Tests pass their own; `start.ts` builds the real ones from a data folder.
import type { Logger } from 'pino';
import type { CiphersuiteImpl } from 'ts-mls';
import type { SignatureKeyPair } from '@sealpost/protocol';
import type { ServerStore } from './store/store.js';
import type { Bus } from './bus/bus.js';
import type { BlobStore } from './blobs/blob-store.js';
import type { Metrics } from './metrics.js';
import type { KtKeysPrivate, KtLog } from './kt/kt-log.js';
import type { RateLimiters } from './http/rate-limit.js';
import type { ServerSecret } from './server-secret.js';
import type { Clock } from './clock.js';

export { systemClock, type Clock } from './clock.js';

export interface ServerContext {
  store: ServerStore;
  bus: Bus;
  clock: Clock;
  log: Logger;
  cs: CiphersuiteImpl;
  domain: string;
  /** SHA-256 of the bootstrap admin token (the credential named "root"; named ones are in the store). */
  adminTokenHash: Uint8Array;
  /** The root token was rotated: keep the new one where the old one was (start.ts: the data folder's admin-token). */
  onRootTokenRotated?: (token: string) => void;
  /** SHA-256 of the token that reads /metrics (the data folder's metrics-token file). */
  metricsTokenHash: Uint8Array;
  /** The server secret, from a file outside the store (server-secret.ts). */
  secret: ServerSecret;
  /** This server's client secret at the organisation's OpenID Connect provider (auth/sso.ts), from a file outside the store. */
  ssoClientSecret?: string;
  /** The organisation key: signs wipe commands and device-removal notices (admin/org-key.ts). */
  org: SignatureKeyPair;
  /** Key-transparency keys (kt/kt-log.ts) and how often an epoch is published. */
  ktKeys: KtKeysPrivate;
  ktEpochMs: number;
  /** Set by createServer. */
  kt?: KtLog;
  activationTtlMs: number;
  blobs: BlobStore;
  /** Largest blob (ciphertext bytes) one upload may declare. */
  maxBlobBytes: number;
  /** Total blob bytes one user's devices may hold on the server. */
  userQuotaBytes: number;
  /** Uploads stop while less than this is free on the blobs' volume, so the database can still grow (default 1 GiB). */
  minFreeBytes?: number;
  /** Set by createServer. */
  metrics?: Metrics;
  /** Per-address and per-device budgets (http/rate-limit.ts). */
  rateLimits: RateLimiters;
}

export const defaultBlobLimits = {
  maxBlobBytes: 2 * 1024 ** 3,
  userQuotaBytes: 20 * 1024 ** 3,
  minFreeBytes: 1024 ** 3,
  /** Uploads not completed within this time are deleted. */
  staleUploadMs: 24 * 60 * 60_000,
};
