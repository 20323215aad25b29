// Shared test setup: a real server on 127.0.0.1:0 with a real SQLite file in a temp folder, and real clients.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startServer, type StartedServer, type StartOptions } from '@sealpost/server';
import { SealpostClient, HttpApi, ProfileStore, type ChatMessage, type ClientOptions, type Received } from '@sealpost/client';

export interface TestServer {
  url: string;
  dataDir: string;
  adminToken: string;
  started: StartedServer;
  logs: string[];
  close(): Promise<void>;
  addUser(name: string): Promise<{ user: string; activationCode: string }>;
  enroll(name: string, options?: ClientOptions): Promise<TestClient>;
  /** The organisation's legal-hold archive account (`admin archive create`) with one device, in this process. */
  enrollArchive(options?: ClientOptions): Promise<TestClient>;
  /** Link a new device to `owner`'s account, approved by `owner` (with the fingerprint check). */
  link(owner: TestClient, options?: ClientOptions & { history?: number; deviceName?: string }): Promise<TestClient>;
  /** An admin API call with the bootstrap token. */
  adminRequest<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T>;
  /** Close this client with the server (for clients a test opens itself). */
  track(client: SealpostClient): SealpostClient;
}

export interface TestClient {
  client: SealpostClient;
  profile: string;
  warnings: string[];
}

const tempDirs: string[] = [];

/** The web client's build, as `npm run build` makes it. */
export const WEB_DIST = fileURLToPath(new URL('../packages/web/dist', import.meta.url));

/** A fresh temporary folder; removed when the test server of the test closes. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `sealpost-${prefix}-`));
  tempDirs.push(d);
  return d;
}

export async function startTestServer(
  opts: { activationTtlMs?: number; maxBlobBytes?: number; userQuotaBytes?: number; db?: string; bus?: string; web?: boolean | string; logLevel?: string } & Pick<StartOptions, 'timeouts' | 'rateLimits' | 'minFreeBytes' | 'clock' | 'smtp' | 'outbound' | 'ssoClientSecretFile'> = {},
): Promise<TestServer> {
  const dataDir = tempDir('server');
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const started = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    domain: 'localhost',
    logLevel: opts.logLevel ?? 'info',
    logDestination,
    ...(opts.activationTtlMs ? { activationTtlMs: opts.activationTtlMs } : {}),
    ...(opts.maxBlobBytes ? { maxBlobBytes: opts.maxBlobBytes } : {}),
    ...(opts.userQuotaBytes ? { userQuotaBytes: opts.userQuotaBytes } : {}),
    ...(opts.db ? { db: opts.db } : {}),
    ...(opts.bus ? { bus: opts.bus } : {}),
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
    ...(opts.rateLimits ? { rateLimits: opts.rateLimits } : {}),
    ...(opts.minFreeBytes ? { minFreeBytes: opts.minFreeBytes } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.smtp ? { smtp: opts.smtp } : {}),
    ...(opts.outbound ? { outbound: opts.outbound } : {}),
    ...(opts.ssoClientSecretFile ? { ssoClientSecretFile: opts.ssoClientSecretFile } : {}),
    // The web client as `npm run build` made it (packages/web/dist), or the build in the folder given.
    ...(opts.web ? { webDir: typeof opts.web === 'string' ? opts.web : WEB_DIST } : {}),
  });
  const adminToken = readFileSync(started.adminTokenFile, 'utf8').trim();
  const clients: SealpostClient[] = [];
  const profiles: string[] = [];
  const admin = new HttpApi(started.url);
  const server: TestServer = {
    url: started.url,
    dataDir,
    adminToken,
    started,
    logs,
    async close() {
      for (const c of clients) await c.close().catch(() => {});
      await started.close();
      rmSync(dataDir, { recursive: true, force: true });
      for (const p of [...profiles, ...tempDirs.splice(0)]) rmSync(p, { recursive: true, force: true });
    },
    addUser(name) {
      return admin.request('POST', '/v1/admin/users', { user: name }, { admin: adminToken });
    },
    async enroll(name, options = {}) {
      const { user, activationCode } = await server.addUser(name);
      const profile = tempDir(`profile-${name}`);
      profiles.push(profile);
      const warnings: string[] = [];
      const client = await SealpostClient.enroll(
        { server: started.url, user, code: activationCode, profile },
        { warn: (m) => warnings.push(m), ...options },
      );
      clients.push(client);
      return { client, profile, warnings };
    },
    async enrollArchive(options = {}) {
      const { user, activationCode } = await admin.request<{ user: string; activationCode: string }>('POST', '/v1/admin/archive', {}, { admin: adminToken });
      const profile = tempDir('profile-archive');
      profiles.push(profile);
      const warnings: string[] = [];
      const client = await SealpostClient.enroll({ server: started.url, user, code: activationCode, profile }, { warn: (m) => warnings.push(m), ...options });
      clients.push(client);
      return { client, profile, warnings };
    },
    async link(owner, options = {}) {
      const profile = tempDir('profile-linked');
      profiles.push(profile);
      const warnings: string[] = [];
      let approved: Promise<unknown> | undefined;
      const stop = new AbortController();
      const linking = SealpostClient.link(
        { server: started.url, user: owner.client.user, profile, ...(options.deviceName ? { deviceName: options.deviceName } : {}) },
        {
          warn: (m) => warnings.push(m),
          ...options,
          pollMs: 100,
          signal: stop.signal,
          onCode: (c) => {
            approved = owner.client.approveLink(c.code, { fingerprint: c.fingerprint, history: options.history ?? 0 });
            // A refused approval must not leave the new device waiting for the request to expire.
            approved.catch(() => stop.abort());
          },
        },
      );
      const client = await linking.catch(async (err) => {
        await approved; // the approval's own error explains the failure better than "cancelled"
        throw err;
      });
      await approved;
      clients.push(client);
      return { client, profile, warnings };
    },
    adminRequest(method, path, body) {
      return admin.request(method, path, body, { admin: adminToken });
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
  return server;
}

/** Every file under a folder, recursively (to scan a data folder for leaked plaintext). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The session token a device's profile holds (after it has talked to the server), for raw-protocol tests. */
export function sessionTokenOf(profile: string): string {
  const s = ProfileStore.open(profile, { create: false });
  try {
    return s.getMetaText('session_token')!;
  } finally {
    s.close();
  }
}

/** The chat messages among what sync or watch reported (chat tests ignore mail). */
export function chats(received: Received[]): ChatMessage[] {
  return received.filter((m): m is ChatMessage => m.type === 'message');
}

/** Run `client.watch` and collect the chat messages it reports; `until(n)` waits (10 s at most) for n of them. */
export function watchChats(client: SealpostClient): { seen: ChatMessage[]; until(n: number): Promise<void>; stop(): Promise<void> } {
  const seen: ChatMessage[] = [];
  const ac = new AbortController();
  let wake: () => void = () => {};
  const watching = client.watch((m) => {
    seen.push(...chats([m]));
    wake();
  }, ac.signal);
  return {
    seen,
    until: (n) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${n} messages arrived`)), 10_000);
        wake = () => {
          if (seen.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        wake();
      }),
    async stop() {
      ac.abort();
      await watching;
    },
  };
}
