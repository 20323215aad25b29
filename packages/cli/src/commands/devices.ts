// `sealpost enroll` (a first device, with an activation code) and `sealpost devices …`: link a new device (code or
// QR payload, approved on a device you have), list, revoke, rotate keys.
import type { Command } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { SealpostClient } from '@sealpost/client';
import { jsonOption, newPassphrase, policyNeedsPassphrase, profileOf, profileOption, required, serverOption, withClient, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';
import { ssoActivation } from '../sso-login.js';
import { confirm } from '../prompt.js';
import { oneLine } from '../terminal-safe.js';

/** The approving side accepts the code itself, or the whole QR payload (then the fingerprint is checked for you). */
function parseCodeOrQr(input: string): { code: string; fingerprint?: string } {
  if (!input.startsWith('sealpost-link:v1?')) return { code: input };
  const q = new URLSearchParams(input.slice('sealpost-link:v1?'.length));
  const code = q.get('code');
  const fp = q.get('fp');
  if (!code || !fp || !/^\d{30}$/.test(fp)) throw new SealpostError('LINK_CODE_INVALID', 'QR payload: missing or malformed code or fingerprint');
  return { code, fingerprint: fp };
}

export function registerDeviceCommands(program: Command): void {
  // ---- enroll -------------------------------------------------------------------------------------------------
  program
    .command('enroll')
    .description("enroll this device: with an activation code, or by signing in with your organisation's identity provider (--sso); makes the account and device keys here")
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .option('--user <user@domain>', 'your user id (with --code)')
    .option('--code <code>', 'the activation code from your admin')
    .option('--sso', "sign in with your organisation's identity provider instead: prints an address to open in a browser and waits for the sign-in")
    .addOption(profileOption())
    .option('--device-name <name>', 'a name for this device')
    .option('--passphrase', 'encrypt the local store with a passphrase (asked, or SEALPOST_PASSPHRASE); required when policy says so')
    .addOption(jsonOption())
    .action(async (o: { server?: string; user?: string; code?: string; sso?: boolean; profile?: string; deviceName?: string; passphrase?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const server = required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER');
      if (o.sso && (o.user || o.code)) throw new SealpostError('INVALID_INPUT', '--sso: give no --user and --code (the identity provider says who you are)');
      if (!o.sso && (!o.user || !o.code)) throw new SealpostError('INVALID_INPUT', 'give --user and --code (the activation code from your admin), or --sso to sign in with your organisation account');
      const passphrase = await newPassphrase(Boolean(o.passphrase) || (await policyNeedsPassphrase(server)));
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      const { user, activationCode } = o.sso
        ? await ssoActivation(server, (url) => out.result({ status: 'sign-in', url }, `Open this address in a browser and sign in with your organisation account:\n  ${url}\nWaiting for the sign-in …`), abort.signal).finally(() => process.off('SIGINT', stop))
        : { user: o.user!, activationCode: o.code! };
      process.off('SIGINT', stop);
      const client = await SealpostClient.enroll(
        { server, user, code: activationCode, profile: profileOf(o), ...(o.deviceName ? { deviceName: o.deviceName } : {}) },
        { warn: (m) => out.warn(m), ...(passphrase ? { passphrase } : {}) },
      );
      out.result({ user: client.user, device: client.device, server: client.server }, `enrolled ${client.user} (device ${client.device}) on ${client.server}`);
      await client.close();
    });

  const devices = program.command('devices').description("your account's devices: link a new one, list, revoke");

  devices
    .command('link')
    .description('make this a new device of an existing account: prints a code to approve on a device you already have')
    .addOption(serverOption())
    .requiredOption('--user <user@domain>', 'your user id')
    .addOption(profileOption())
    .option('--device-name <name>', 'a name for this device')
    .option('--passphrase', 'encrypt the local store with a passphrase (asked, or SEALPOST_PASSPHRASE)')
    .addOption(jsonOption())
    .action(async (o: { server?: string; user: string; profile?: string; deviceName?: string; passphrase?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const server = required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER');
      const passphrase = await newPassphrase(Boolean(o.passphrase) || (await policyNeedsPassphrase(server)));
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      try {
        const client = await SealpostClient.link(
          { server, user: o.user, profile: profileOf(o), ...(o.deviceName ? { deviceName: o.deviceName } : {}) },
          {
            warn: (m) => out.warn(m),
            ...(passphrase ? { passphrase } : {}),
            signal: abort.signal,
            onCode: (c) =>
              out.result(
                { status: 'waiting', code: c.code, qr: c.qr, fingerprint: c.fingerprint, expiresAt: c.expiresAt },
                `On a device you already have, run:\n  sealpost devices approve ${c.code}\n` +
                  `and check that it shows this fingerprint:\n  ${c.fingerprint}\n(QR payload: ${c.qr})\nWaiting for approval until ${c.expiresAt} …`,
              ),
          },
        );
        try {
          // The approving device adds this one to its conversations right after approving: wait for them (30 s).
          const { received, joined, expected } = await client.awaitLinkedConversations();
          out.result({ status: 'linked', user: client.user, device: client.device, received: received.length, conversations: client.conversations().length },
            `linked: ${client.user}, device ${client.device}; in ${joined} of the ${expected} conversation(s) the approving device is adding it to` +
              (joined < expected ? ' (the rest arrive with the next sync)' : ''));
        } finally {
          await client.close();
        }
      } catch (err) {
        // Ctrl-C while waiting: said as what it is, with the exit code of an interrupted command.
        if (!(err instanceof SealpostError && err.code === 'CANCELLED')) throw err;
        process.stderr.write(`cancelled: ${err.message}\n`);
        process.exitCode = 130;
      } finally {
        process.off('SIGINT', stop);
      }
    });

  devices
    .command('approve <code>')
    .description('approve a new device of your account by its code (or QR payload); it joins all your conversations')
    .addOption(profileOption())
    .option('--fingerprint <digits>', 'the fingerprint the new device shows (checked instead of asking)')
    .option('--yes', 'approve without asking (only with --fingerprint, or when you checked it another way)')
    .option('--history <n>', 'bring over your last N messages, end-to-end encrypted (max 1000)', '0')
    .addOption(jsonOption())
    .action(async (input: string, o: { profile?: string; fingerprint?: string; yes?: boolean; history: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { code, fingerprint: fromQr } = parseCodeOrQr(input);
      const history = Number(o.history);
      if (!Number.isInteger(history) || history < 0 || history > 1000) throw new SealpostError('INVALID_INPUT', '--history: a whole number 0 to 1000');
      const expected = o.fingerprint ?? fromQr;
      await withClient(o, out, async (c) => {
        const req = await c.linkRequest(code);
        if (expected === undefined) {
          if (!o.yes) {
            if (!process.stdin.isTTY) throw new SealpostError('INVALID_INPUT', 'give --fingerprint (the digits the new device shows), or --yes after checking them');
            process.stderr.write(`New device ${req.device}${req.deviceName ? ` (${oneLine(req.deviceName)})` : ''} asks to join your account.\nFingerprint: ${req.fingerprint}\n`);
            if (!(await confirm('Does the new device show exactly this fingerprint?'))) throw new SealpostError('FINGERPRINT_MISMATCH', 'not approved');
          }
        }
        const res = await c.approveLink(code, { ...(expected !== undefined ? { fingerprint: expected } : {}), history });
        out.result({ ...res, fingerprint: req.fingerprint }, `approved ${res.device}; added to ${res.conversations} conversation(s)`);
      });
    });

  devices
    .command('list')
    .description("your account's devices")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        for (const d of await c.devices()) {
          out.result({ ...d }, `${d.current ? '*' : ' '} ${d.id}\t${d.status}${d.signed ? '' : ' (not in signed list)'}\t${oneLine(d.name ?? '')}\tlast seen ${d.lastSeenAt ?? 'never'}`);
        }
      });
    });

  devices
    .command('rotate')
    .description("commit fresh keys for this device in every conversation now (done on the policy's key-update-interval anyway): a copy of its keys taken before cannot read what comes after")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const res = await c.rotateKeys();
        out.result(res, `fresh keys committed in ${res.conversations} conversation(s)`);
      });
    });

  devices
    .command('revoke <device>')
    .description('revoke another of your devices: it leaves your signed device list and every conversation')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        await c.revokeDevice(id);
        out.result({ device: id, status: 'revoked' }, `revoked ${id}`);
      });
    });
}
