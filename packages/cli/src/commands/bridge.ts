// `sealpost bridge`: serve this device's Sealpost mail to the mail programs people use (IMAP and SMTP submission on
// loopback), kept in sync over the WebSocket, until SIGINT/SIGTERM. docs/bridge.md has a systemd unit for running it
// headless.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { SealpostError } from '@sealpost/protocol';
import { SealpostClient } from '@sealpost/client';
import { jsonOption, parseListen, passphraseFor, profileOf, profileOption, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';
import { startBridge } from '../bridge/bridge.js';

export function registerBridgeCommand(program: Command): void {
  program
    .command('bridge')
    .description('serve your Sealpost mail to Thunderbird, Apple Mail, mutt… over IMAP and SMTP on this machine')
    .addOption(profileOption())
    .option('--imap <host:port>', 'where the IMAP server listens', '127.0.0.1:1143')
    .option('--smtp <host:port>', 'where the SMTP submission server listens', '127.0.0.1:1025')
    .option('--tls-cert <file>', 'TLS certificate (PEM): needed to listen beyond loopback')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--send-readable', 'let mail to outside addresses without a known OpenPGP key leave readable (a mail program cannot be asked)')
    .option('--new-password', 'make a new bridge password (the old one stops working) and print it once')
    .addOption(jsonOption())
    .action(async (o: { profile?: string; imap: string; smtp: string; tlsCert?: string; tlsKey?: string; sendReadable?: boolean; newPassword?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const imap = parseListen(o.imap);
      const smtp = parseListen(o.smtp);
      // The server package is loaded only here (the rest of the CLI does not need it at start).
      const { isLoopback } = await import('@sealpost/server');
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new SealpostError('INVALID_INPUT', '--tls-cert and --tls-key go together');
      for (const [flag, a] of [['--imap', imap], ['--smtp', smtp]] as const) {
        if (!isLoopback(a.host) && !o.tlsCert) {
          throw new SealpostError('INSECURE_LISTEN', `refusing ${flag} ${a.host}: beyond loopback the bridge listens only with TLS (--tls-cert and --tls-key); the password and your mail would cross the network readable`);
        }
      }
      const tls = o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
      const profile = profileOf(o);
      const passphrase = await passphraseFor(profile);
      const client = await SealpostClient.open(profile, { warn: (m) => out.warn(m), ...(passphrase ? { passphrase } : {}) });
      const stop = new AbortController();
      let bridge: Awaited<ReturnType<typeof startBridge>> | undefined;
      try {
        await client.sync();
        bridge = await startBridge(client, profile, { imap, smtp, ...(tls ? { tls } : {}), sendReadable: Boolean(o.sendReadable), newPassword: Boolean(o.newPassword), log: (l) => out.warn(l) });
        // Stopping is graceful from the moment the bridge says where it listens (handlers first, then the line).
        let fail: (err: unknown) => void = () => {};
        const stopped = new Promise<void>((resolve, reject) => {
          fail = reject;
          const end = () => {
            process.off('SIGINT', end);
            process.off('SIGTERM', end);
            stop.abort();
            resolve();
          };
          process.on('SIGINT', end);
          process.on('SIGTERM', end);
        });
        const where = { user: client.user, imap: `${imap.host}:${bridge.imapPort}`, smtp: `${smtp.host}:${bridge.smtpPort}`, tls: Boolean(tls) };
        out.result(
          { ...where, ...(bridge.password ? { password: bridge.password } : {}) },
          [
            `Sealpost bridge for ${client.user}: IMAP on ${where.imap}, SMTP on ${where.smtp}${tls ? ' (TLS)' : ''}`,
            bridge.password
              ? `Bridge password (shown once; kept only as a hash — make a new one with --new-password):\n  ${bridge.password}`
              : 'Log in with your user id and the bridge password made on the first run.',
          ].join('\n'),
        );
        const b = bridge;
        // Said once the mail there was at start is rendered and kept for fast syncs (new mail is, as it arrives).
        void b.whenPrepared().then(() => out.result({ ready: true, mails: b.mailCount() }, `ready: ${b.mailCount()} mails prepared for your mail program`));
        const watching = client.watch(() => {}, stop.signal, { onChange: () => b.reconcile(), onStatus: (s) => (s === 'online' ? b.reconcile() : undefined) });
        watching.catch(fail);
        await stopped;
        await watching.catch(() => {});
        out.info('bridge stopped');
      } finally {
        stop.abort();
        await bridge?.close();
        await client.close();
      }
    });
}
