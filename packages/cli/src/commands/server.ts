// `sealpost server`: run a node (SQLite in the data folder, or PostgreSQL and NATS for many nodes), print where it
// listens and the admin token on first start, and stop gracefully on SIGINT/SIGTERM.
import type { Command } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { jsonOption, parseListen, parseSize, type JsonOpt } from '../common.js';
import { builtWebClient } from './web.js';

export function registerServerCommand(program: Command): void {
  // ---- server -------------------------------------------------------------------------------------------------
  program
    .command('server')
    .description('run a Sealpost server (SQLite in the data folder)')
    .option('--data <dir>', 'data folder', 'sealpost-data')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--domain <domain>', 'the domain of user ids on this server', 'localhost')
    .option('--db <url>', 'keep durable state in PostgreSQL (postgres://…[?schema=NAME]) instead of SQLite in --data')
    .option('--bus <url>', 'push across server nodes over NATS (nats://…) instead of in-process')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure-http', 'serve plain HTTP on a non-loopback address (only behind a TLS proxy)')
    .option('--secret-file <file>', 'the server secret that seals the keys in the database (default: server-secret in --data; every node of a cluster needs the same file)')
    .option('--insecure-no-rate-limits', 'turn off every per-address and per-device rate limit (load tests on loopback only)')
    .option('--max-file-size <size>', 'largest encrypted file, e.g. 2G', '2G')
    .option('--user-quota <size>', 'encrypted file storage per user, e.g. 20G', '20G')
    .option('--min-free-disk <size>', 'refuse uploads while less than this is free on the data volume, so the database can grow', '1G')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .option('--web-dir <dir>', 'the web client to serve at / (default: the one built with this installation)')
    .option('--no-web', 'serve the API only, no web client')
    .option('--sso-client-secret-file <file>', "this server's client secret at the organisation's OpenID Connect provider (sign-in to enroll; with admin policy sso-issuer and sso-client-id)")
    .option('--smtp-listen <host:port>', 'run the inbound SMTP gateway for outside mail here (port 25 in production; STARTTLS with --tls-cert)')
    .option('--smtp-max-size <size>', 'largest inbound message', '25M')
    .option('--mail-route <domain=host:port>', 'deliver outbound mail for a domain to this host instead of its MX (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--smarthost <host:port>', 'deliver all outbound mail through this relay')
    .addOption(jsonOption())
    .action(async (o: { web: boolean; webDir?: string; data: string; listen: string; domain: string; db?: string; bus?: string; tlsCert?: string; tlsKey?: string; insecureHttp?: boolean; secretFile?: string; ssoClientSecretFile?: string; insecureNoRateLimits?: boolean; maxFileSize: string; userQuota: string; minFreeDisk: string; logLevel: string; smtpListen?: string; smtpMaxSize: string; mailRoute?: string[]; smarthost?: string } & JsonOpt) => {
      const { startServer } = await import('@sealpost/server');
      const { host, port } = parseListen(o.listen);
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new SealpostError('INVALID_INPUT', '--tls-cert and --tls-key go together');
      const webDir = o.web ? (o.webDir ?? builtWebClient()) : undefined;
      const smtp = o.smtpListen ? { ...parseListen(o.smtpListen), maxBytes: parseSize(o.smtpMaxSize, '--smtp-max-size') } : undefined;
      const routes: Record<string, string> = {};
      for (const r of o.mailRoute ?? []) {
        const m = /^([a-z0-9.-]+)=(\[?[A-Za-z0-9.:-]+\]?:\d{1,5})$/i.exec(r.trim());
        if (!m) throw new SealpostError('INVALID_INPUT', `--mail-route: expected DOMAIN=HOST:PORT, got ${JSON.stringify(r)}`);
        routes[m[1]!.toLowerCase()] = m[2]!;
      }
      if (o.smarthost && !/^\[?[A-Za-z0-9.:-]+\]?:\d{1,5}$/.test(o.smarthost)) throw new SealpostError('INVALID_INPUT', '--smarthost: expected HOST:PORT');
      const outbound = { routes, ...(o.smarthost ? { smarthost: o.smarthost } : {}) };
      const started = await startServer({
        dataDir: o.data,
        ...(o.db ? { db: o.db } : {}),
        ...(o.bus ? { bus: o.bus } : {}),
        host,
        port,
        domain: o.domain,
        logLevel: o.logLevel,
        maxBlobBytes: parseSize(o.maxFileSize, '--max-file-size'),
        userQuotaBytes: parseSize(o.userQuota, '--user-quota'),
        minFreeBytes: parseSize(o.minFreeDisk, '--min-free-disk'),
        // Logs go to stderr so that stdout carries only what a script reads.
        logDestination: process.stderr,
        ...(o.tlsCert && o.tlsKey ? { tls: { certFile: o.tlsCert, keyFile: o.tlsKey } } : {}),
        ...(o.insecureHttp ? { insecureHttp: true } : {}),
        ...(o.insecureNoRateLimits ? { rateLimits: 'off' as const } : {}),
        ...(o.secretFile ? { secretFile: o.secretFile } : {}),
        ...(o.ssoClientSecretFile ? { ssoClientSecretFile: o.ssoClientSecretFile } : {}),
        ...(webDir ? { webDir } : {}),
        ...(smtp ? { smtp } : {}),
        outbound,
        onAdminToken: (token, file) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ adminToken: token, adminTokenFile: file })}\n`);
          else process.stdout.write(`Admin token (shown once; also saved to ${file}):\n  ${token}\n`);
        },
      });
      // The signal handlers are in place before "listening" is said: a supervisor that stops the server as soon as
      // it reads that line must find a graceful stop, not the default of dying on SIGTERM.
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          const log = started.server.ctx.log;
          log.info({ signal }, `shutting down (${signal}): closing connections, finishing requests (at most 10 s)`);
          // A graceful close gets 10 s; a dependency that does not let go (a bus reconnecting, a stuck database
          // connection) must not keep a node that was told to stop alive.
          const force = setTimeout(() => {
            process.stderr.write('sealpost: shutdown took longer than 10 s; exiting anyway\n');
            process.exit(1);
          }, 10_000);
          force.unref();
          void started.close().then(
            () => {
              log.info('stopped');
              resolve();
              // Nothing else to wait for: exit even if a library left a timer or socket behind.
              setImmediate(() => process.exit(0));
            },
            () => resolve(),
          );
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        // SIGHUP: a renewed TLS certificate is read again (new connections get it; open ones keep theirs).
        if (o.tlsCert) {
          process.on('SIGHUP', () => {
            const log = started.server.ctx.log;
            try {
              started.reloadTls();
              log.info('TLS certificate and key reloaded (SIGHUP)');
            } catch (err) {
              log.error({ err }, `TLS reload failed: ${(err as Error).message}`);
            }
          });
        }
      });
      if (o.json) process.stdout.write(`${JSON.stringify({ listening: started.url, domain: o.domain, data: o.data, web: webDir !== undefined, ...(started.smtpPort ? { smtp: `${smtp!.host}:${started.smtpPort}` } : {}) })}\n`);
      else {
        process.stdout.write(`Sealpost listening on ${started.url} (domain ${o.domain}, data in ${o.data})\n`);
        if (started.smtpPort) process.stdout.write(`SMTP gateway for outside mail on ${smtp!.host}:${started.smtpPort}\n`);
        if (webDir) process.stdout.write(`Web app: open ${started.url}/ in a browser\n`);
      }
      await stopped;
    });
}
