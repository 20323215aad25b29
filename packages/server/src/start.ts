// Starting a server from a data folder: open (and migrate) the SQLite store, create the server key and the admin
// token on first start, listen. This is what `sealpost server` and `npm start` run.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { join, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { SealpostError, parseDomain, type SignatureKeyPair } from '@sealpost/protocol';
import { nodeCiphersuite, privateKeyFrom } from '@sealpost/crypto';
import { openSqliteStore } from './store/sqlite.js';
import type { ServerStore } from './store/store.js';
import { createLocalBus } from './bus/local.js';
import type { Bus } from './bus/bus.js';
import { defaultBlobLimits, systemClock, type Clock } from './context.js';
import { createFsBlobStore } from './blobs/fs-blob-store.js';
import { createServer, type HttpTimeouts, type SealpostServer } from './server.js';
import { newToken, sha256 } from './auth/tokens.js';
import { loadKtKeys, loadOrgKey } from './admin/org-key.js';
import { loadServerSecret, type ServerSecret } from './server-secret.js';
import type { KtKeysPrivate } from './kt/kt-log.js';
import { createRateLimiters, type RateRules } from './http/rate-limit.js';
import { loadWebAssets, type WebAssets } from './web-assets.js';
import { ROOT_TOKEN_META } from './auth/admin-token.js';
import { defaultSmtpLimits, startSmtpGateway, type MailResolver, type SmtpGateway } from './mail/smtp-gateway.js';
import type { OutboundOptions } from './mail/outbound.js';

export interface StartOptions {
  dataDir: string;
  /** postgres://… to keep durable state in PostgreSQL (shared by many nodes); default: SQLite in the data folder. */
  db?: string;
  /** nats://… to push across server nodes; default: in-process. */
  bus?: string;
  host: string;
  port: number;
  domain: string;
  tls?: { certFile: string; keyFile: string };
  /** Plain HTTP on a non-loopback address, for a TLS proxy in front. Off by default. */
  insecureHttp?: boolean;
  activationTtlMs?: number;
  /** How often a key-transparency epoch is published (default 1 s; a search for a changed label publishes at once). */
  ktEpochMs?: number;
  /** Largest encrypted file, in bytes (default 2 GiB). */
  maxBlobBytes?: number;
  /** Encrypted file bytes one user may keep on the server (default 20 GiB). */
  userQuotaBytes?: number;
  /** Uploads stop while less than this is free on the data volume (default 1 GiB). */
  minFreeBytes?: number;
  logLevel?: string;
  /** Where logs go (default stdout). Logs never contain payloads, tokens or keys. */
  logDestination?: NodeJS.WritableStream;
  clock?: Clock;
  /** HTTP request and idle-connection timeouts (defaults in server.ts). */
  timeouts?: HttpTimeouts;
  /**
   * The server secret (default: server-secret in the data folder, made on first start). Nodes sharing a PostgreSQL
   * database must all be given the same file.
   */
  secretFile?: string;
  /**
   * This server's client secret at the organisation's OpenID Connect provider, in a file of its own (`--sso-client-
   * secret-file`): kept outside the database like the server secret. Without it, sign-in with the provider is off.
   */
  ssoClientSecretFile?: string;
  /** Rate-limit rules to change (http/rate-limit.ts), or 'off' for load tests (--insecure-no-rate-limits). */
  rateLimits?: Partial<RateRules> | 'off';
  /** The web client's built files (packages/web/dist), served at /; without it, no web app. */
  webDir?: string;
  /** The inbound SMTP gateway for outside mail (`--smtp-listen`); off without it. */
  smtp?: { host: string; port: number; maxBytes?: number; maxRecipients?: number; resolver?: MailResolver };
  /** How outbound outside mail is delivered (routes, smarthost, retries; mail/outbound.ts). */
  outbound?: OutboundOptions;
  /** Called once, on first start, with the new admin token. */
  onAdminToken?: (token: string, file: string) => void;
}

export interface StartedServer {
  url: string;
  server: SealpostServer;
  adminTokenFile: string;
  /** Holds the token that reads /metrics. */
  metricsTokenFile: string;
  /** The inbound SMTP gateway's port, when it was started. */
  smtpPort?: number;
  /** Use the TLS certificate and key files again, as they are now (SIGHUP after a renewal); CONFIG_INVALID keeps the old. */
  reloadTls(): void;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      // A request is logged by its method and route pattern only: never its URL (who looked up whom, link codes)
      // nor the address it came from.
      serializers: {
        req: (req: { method?: string; routeOptions?: { url?: string } }) => ({ method: req.method, route: req.routeOptions?.url ?? '(no route)' }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
        err: pino.stdSerializers.err,
      },
      // Belt and braces: even if a log call passes a request, these never reach the log.
      redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token', 'body', 'payload'], censor: '[redacted]' },
    },
    destination ?? process.stdout,
  );
}

/** A token made once: written to `file` (0600), its SHA-256 kept in the store's meta under `metaKey`. */
async function tokenOnFile(store: ServerStore, file: string, metaKey: string, onNew?: (token: string) => void): Promise<Uint8Array> {
  let hashHex = await store.getMeta(metaKey);
  if (!hashHex) {
    const token = newToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    hashHex = Buffer.from(sha256(token)).toString('hex');
    await store.setMeta(metaKey, hashHex);
    onNew?.(token);
  }
  return new Uint8Array(Buffer.from(hashHex, 'hex'));
}

/** SQLite by default; PostgreSQL for a postgres:// URL. The PostgreSQL client is only loaded when asked for. */
async function openStore(db: string | undefined, dataDir: string): Promise<ServerStore> {
  if (db === undefined) return openSqliteStore(join(dataDir, 'sealpost.db'));
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new SealpostError('CONFIG_INVALID', '--db: expected a postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new SealpostError('CONFIG_INVALID', '--db: expected a postgres:// URL');
  const { openPostgresStore } = await import('./store/postgres.js');
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  try {
    return await openPostgresStore({ url: url.toString(), ...(schema ? { schema } : {}) });
  } catch (err) {
    throw new SealpostError('CONFIG_INVALID', `--db: cannot open PostgreSQL at ${url.host} (${(err as Error).message})`, { cause: err });
  }
}

export async function startServer(opts: StartOptions): Promise<StartedServer> {
  const domain = parseDomain(opts.domain);
  if (opts.rateLimits === 'off' && !isLoopback(opts.host)) {
    throw new SealpostError('INSECURE_LISTEN', `refusing to turn rate limits off on ${opts.host}: --insecure-no-rate-limits is for load tests on loopback`);
  }
  if (!isLoopback(opts.host) && !opts.tls && !opts.insecureHttp) {
    throw new SealpostError(
      'INSECURE_LISTEN',
      `refusing plain HTTP on ${opts.host}: give --tls-cert and --tls-key, or --insecure-http when a TLS proxy sits in front`,
    );
  }
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const store = await openStore(opts.db, dataDir);
  const storedDomain = await store.getMeta('domain');
  if (storedDomain && storedDomain !== domain) {
    await store.close();
    throw new SealpostError('CONFIG_INVALID', `data folder belongs to domain ${storedDomain}, not ${domain}`);
  }
  if (!storedDomain) await store.setMeta('domain', domain);

  // The server's own signing key (for its role as MLS external sender and for key transparency).
  const keyFile = join(dataDir, 'server-key.pem');
  if (!existsSync(keyFile)) {
    // 32 random bytes as an Ed25519 key (not generateKeyPairSync: see generate() in @sealpost/crypto's hpke).
    const privateKey = privateKeyFrom('ed25519', randomBytes(32));
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }

  // The admin token is printed once and written to a 0600 file; the metrics token (for a Prometheus scraper's
  // bearer_token_file) too. Only their hashes are kept in the database.
  const adminTokenFile = join(dataDir, 'admin-token');
  const adminTokenHash = await tokenOnFile(store, adminTokenFile, ROOT_TOKEN_META, (token) => opts.onAdminToken?.(token, adminTokenFile));
  const metricsTokenFile = join(dataDir, 'metrics-token');
  const metricsTokenHash = await tokenOnFile(store, metricsTokenFile, 'metrics_token_sha256');

  const log = createLogger(opts.logLevel, opts.logDestination);
  const tls = opts.tls ? { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) } : undefined;
  let bus: Bus = createLocalBus();
  if (opts.bus) {
    // Loaded only when asked for, like the PostgreSQL client.
    const { createNatsBus } = await import('./bus/nats.js');
    try {
      bus = await createNatsBus({ url: opts.bus, store, log });
    } catch (err) {
      await store.close();
      throw new SealpostError('CONFIG_INVALID', `--bus: cannot connect to NATS at ${opts.bus} (${(err as Error).message})`, { cause: err });
    }
  }
  const cs = nodeCiphersuite();
  // The secret is made only with a new store: a store whose keys are sealed needs the secret that sealed them.
  const secretFile = resolve(opts.secretFile ?? join(dataDir, 'server-secret'));
  let secret: ServerSecret;
  let org: SignatureKeyPair;
  let ktKeys: KtKeysPrivate;
  try {
    const sealedAlready = (await store.getMeta('org_signing_key'))?.includes('.sealed1.') ?? false;
    secret = loadServerSecret(secretFile, !sealedAlready);
    org = await loadOrgKey(store, cs, secret);
    ktKeys = await loadKtKeys(store, cs, secret);
  } catch (err) {
    await store.close();
    throw err;
  }
  let web: WebAssets | undefined;
  let ssoClientSecret: string | undefined;
  try {
    web = opts.webDir ? loadWebAssets(opts.webDir) : undefined;
    if (opts.ssoClientSecretFile) {
      ssoClientSecret = readFileSync(opts.ssoClientSecretFile, 'utf8').trim();
      if (ssoClientSecret.length === 0 || ssoClientSecret.length > 1000) throw new SealpostError('CONFIG_INVALID', `${opts.ssoClientSecretFile}: expected the client secret on one line`);
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  const server = createServer(
    {
      store,
      secret,
      ...(ssoClientSecret ? { ssoClientSecret } : {}),
      org,
      ktKeys,
      ktEpochMs: opts.ktEpochMs ?? 1000,
      bus,
      clock: opts.clock ?? systemClock,
      rateLimits: createRateLimiters(opts.clock ?? systemClock, opts.rateLimits),
      log,
      cs,
      domain,
      adminTokenHash,
      // A rotated root token replaces the file it was read from (this node's data folder).
      onRootTokenRotated: (token) => writeFileSync(adminTokenFile, `${token}\n`, { mode: 0o600 }),
      metricsTokenHash,
      activationTtlMs: opts.activationTtlMs ?? 7 * 24 * 60 * 60_000,
      blobs: createFsBlobStore(join(dataDir, 'blobs')),
      maxBlobBytes: opts.maxBlobBytes ?? defaultBlobLimits.maxBlobBytes,
      userQuotaBytes: opts.userQuotaBytes ?? defaultBlobLimits.userQuotaBytes,
      minFreeBytes: opts.minFreeBytes ?? defaultBlobLimits.minFreeBytes,
    },
    { ...(tls ? { tls } : {}), ...(opts.timeouts ? { timeouts: opts.timeouts } : {}), ...(web ? { web } : {}), ...(opts.outbound ? { outbound: opts.outbound } : {}) },
  );
  let url: string;
  try {
    url = await server.listen(opts.host, opts.port);
  } catch (err) {
    await server.close().catch(() => {});
    // Refusing a tampered database is not a listening problem: say what it is.
    if (err instanceof SealpostError && err.code === 'STORE_TAMPERED') throw err;
    const code = (err as { code?: string }).code;
    const why = code === 'EADDRINUSE' ? 'the address is already in use (another server running? choose one with --listen)' : (err as Error).message;
    throw new SealpostError('LISTEN_FAILED', `cannot listen on ${opts.host}:${opts.port}: ${why}`, { cause: err });
  }
  let smtp: SmtpGateway | undefined;
  if (opts.smtp) {
    try {
      smtp = await startSmtpGateway(server.ctx, {
        host: opts.smtp.host,
        port: opts.smtp.port,
        maxBytes: opts.smtp.maxBytes ?? defaultSmtpLimits.maxBytes,
        maxRecipients: opts.smtp.maxRecipients ?? defaultSmtpLimits.maxRecipients,
        ...(tls ? { tls } : {}),
        ...(opts.smtp.resolver ? { resolver: opts.smtp.resolver } : {}),
      });
    } catch (err) {
      await server.close().catch(() => {});
      throw new SealpostError('LISTEN_FAILED', `cannot listen for SMTP on ${opts.smtp.host}:${opts.smtp.port}: ${(err as Error).message}`, { cause: err });
    }
  }
  /** Read the certificate and key again (a renewed certificate) and use them for new connections. */
  const reloadTls = (): void => {
    if (!opts.tls) throw new SealpostError('CONFIG_INVALID', 'this server was started without --tls-cert/--tls-key: nothing to reload');
    const next = { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) };
    try {
      createSecureContext(next); // a certificate that does not match its key is refused here, and the old one stays
    } catch (err) {
      throw new SealpostError('CONFIG_INVALID', `--tls-cert/--tls-key: cannot use them (${(err as Error).message}); the previous certificate stays in use`, { cause: err });
    }
    (server.app.server as unknown as { setSecureContext(o: { cert: Buffer; key: Buffer }): void }).setSecureContext(next);
    smtp?.updateTls(next);
  };
  const close = async () => {
    await smtp?.close();
    await server.close();
  };
  return { url, server, adminTokenFile, metricsTokenFile, reloadTls, close, ...(smtp ? { smtpPort: smtp.port } : {}) };
}
