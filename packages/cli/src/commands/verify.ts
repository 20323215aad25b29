// `sealpost verify` (safety numbers and key-transparency status) and `sealpost auditor` (replay a server's log,
// co-sign the heads it verified, serve them).
import type { Command } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { KtAuditor, normaliseServerUrl } from '@sealpost/client';
import { jsonOption, parseListen, profileOption, required, serverOption, withClient, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';


export function registerVerifyCommands(program: Command): void {
  program
    .command('verify [user]')
    .description("show the safety number with USER and the key-transparency status of their keys; --self checks your own account's log entry")
    .addOption(profileOption())
    .option('--self', 'check that the log holds only what your devices made; exits non-zero (KT_ALARM) otherwise')
    .option('--confirm <number>', 'record that you compared this safety number with USER (60 digits, spaces allowed)')
    .option('--peer <qr>', "USER's verify QR payload: checks the number and that both of you see one key-transparency log, then confirms")
    .addOption(jsonOption())
    .action(async (user: string | undefined, o: { profile?: string; self?: boolean; confirm?: string; peer?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      if (Boolean(user) === Boolean(o.self)) throw new SealpostError('INVALID_INPUT', 'give a USER to verify, or --self');
      await withClient(o, out, async (c) => {
        if (o.self) {
          const r = await c.monitorSelf();
          const alarm = r.problems.length > 0 || r.alarm !== null;
          out.result(
            { user: c.user, ok: !alarm, alarm, problems: r.problems, lastAlarm: r.alarm, kt: r.kt },
            alarm
              ? `ALARM for ${c.user}: ${[...r.problems, ...(r.alarm?.problems ?? [])].join('; ')}`
              : `${c.user}: the key-transparency log holds only what your devices made (version ${r.kt.version}, head ${r.kt.head.size})`,
          );
          if (alarm) throw new SealpostError('KT_ALARM', 'the key-transparency log shows a change to your account that your devices did not make');
          return;
        }
        const r = await c.verifyUser(user!, { ...(o.confirm !== undefined ? { confirm: o.confirm } : {}), ...(o.peer !== undefined ? { peer: o.peer } : {}) });
        out.result(
          { ...r },
          [
            `Safety number with ${r.user}:`,
            `  ${r.safetyNumber}`,
            `QR payload: ${r.qr}`,
            `Key transparency: verified (version ${r.kt.version} of ${r.user}, tree head ${r.kt.head.size})`,
            ...(r.conversations.length > 0
              ? [`Conversations with ${r.user}: ${r.conversations.map((x) => `${x.id} ${x.suite === 'pq-hybrid' ? 'pq-hybrid (post-quantum)' : 'classic'}`).join(', ')}`]
              : []),
            ...(r.hold
              ? [
                  r.hold.active
                    ? `LEGAL HOLD on ${r.user} since ${r.hold.since.slice(0, 19).replace('T', ' ')} UTC${r.hold.until ? ` until ${r.hold.until.slice(0, 19).replace('T', ' ')} UTC` : ''}: "${r.hold.reason}" — signed by your organisation and published in the key-transparency log; what you send ${r.user} from then on also reaches your organisation's archive`
                    : `A legal hold on ${r.user} ("${r.hold.reason}") ${r.hold.releasedAt ? `was released on ${r.hold.releasedAt.slice(0, 19).replace('T', ' ')} UTC` : 'has ended'}`,
                ]
              : []),
            ...(r.keyChange?.status === 'pending'
              ? [
                  `NEW ACCOUNT KEY, NOT USED YET: an admin reset ${r.user} (the log retires the old key at version ${r.keyChange.retiredAt}). The number above is the one with the new key.`,
                  `It is used from ${r.keyChange.until!.slice(0, 19).replace('T', ' ')} UTC unless ${r.user}'s devices object first, or now if you compare it with ${r.user} and run with --confirm NUMBER.`,
                ]
              : []),
            ...(r.keyChange?.status === 'refused'
              ? [`NEW ACCOUNT KEY REFUSED: ${r.keyChange.reason}. The number above is the one with the refused key; confirm it only if you compared it with ${r.user} in person.`]
              : []),
            r.confirmed ? (r.changedSinceConfirmed ? 'WARNING: the number has CHANGED since you confirmed it' : 'You confirmed this number before.') : 'Not confirmed yet: compare it in person or by a call, then run with --confirm NUMBER.',
            ...r.keyChanges.map((k) => `Account key changed on ${k.at.slice(0, 19).replace('T', ' ')} (an admin reset in the key-transparency log)${k.acknowledged ? '; you verified the number since' : ': not verified since'}`),
          ].join('\n'),
        );
        if (r.changedSinceConfirmed) out.warn(`the safety number with ${r.user} changed since you confirmed it`);
      });
    });

  program
    .command('auditor')
    .description("audit a server's key-transparency log: replay every epoch, check roots and heads, co-sign and serve the heads verified")
    .addOption(serverOption())
    .requiredOption('--data <dir>', "the auditor's own folder (its key and the heads it signed)")
    .option('--listen <host:port>', 'serve the signed heads over HTTP (GET /heads/latest, /heads/SIZE)')
    .option('--interval <seconds>', 'how often to fetch new epochs', '10')
    .option('--once', 'replay what exists, report, and exit (non-zero if the log does not check out or a head is refused)')
    .option('--release-objection <user>', "let go of the objections held for USER (after settling them with the person), then exit")
    .addOption(jsonOption())
    .action(async (o: { server?: string; data: string; listen?: string; interval: string; once?: boolean; releaseObjection?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const server = normaliseServerUrl(required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER'));
      const interval = Number(o.interval);
      if (!Number.isFinite(interval) || interval < 0.1 || interval > 86_400) throw new SealpostError('INVALID_INPUT', '--interval: seconds between 0.1 and 86400');
      const auditor = new KtAuditor(server, o.data);
      if (o.releaseObjection !== undefined) {
        const n = auditor.releaseObjections(o.releaseObjection);
        out.result({ user: o.releaseObjection, released: n }, `released ${n} objection(s) for ${o.releaseObjection}; later heads are co-signed again`);
        return;
      }
      const report = async () => {
        const started = Date.now();
        const r = await auditor.replay();
        if (r.kind === 'failed') throw new SealpostError('KT_VERIFICATION_FAILED', `the log of ${server} fails audit at epoch ${r.epoch}: ${r.reason}`);
        out.result(
          { server, ok: !r.refused, epochs: r.epochs, head: r.head ?? null, refused: r.refused ?? null, auditorKey: auditor.publicKey, ms: Date.now() - started },
          r.refused
            ? `${server}: ${r.epochs} epoch(s) replayed and verified; head ${r.refused.size} NOT co-signed: ${r.refused.reason}`
            : `${server}: ${r.epochs} epoch(s) replayed and verified; head ${r.head?.size ?? 0} co-signed (auditor key ${auditor.publicKey})`,
        );
        if (r.refused && o.once) throw new SealpostError('KT_VERIFICATION_FAILED', `head ${r.refused.size} refused: ${r.refused.reason}`);
      };
      await report();
      if (o.once) return;
      let served: { url: string; close(): Promise<void> } | undefined;
      if (o.listen) {
        const { host, port } = parseListen(o.listen);
        served = await auditor.serve(host, port);
        out.info(`serving co-signed heads and taking objections on ${served.url}`);
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => void report().catch((err) => { clearInterval(timer); void served?.close(); reject(err); }), interval * 1000);
        const stop = () => {
          clearInterval(timer);
          void served?.close();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
