// Outside mail peers for tests: a server started with the SMTP gateway and an outbound route to a local sink,
// fixed DNS answers for mailauth, and running real outside tools (swaks, curl, gpg) on loopback.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';

export const run = promisify(execFile);

/** A resolver with fixed answers (TXT for SPF/DKIM/DMARC, MX); anything else is "no such record". */
export function fixedDns(records: Record<string, string[][] | { exchange: string; priority: number }[]>) {
  return async (name: string, rr: string): Promise<never> => {
    const v = records[`${rr}:${name.toLowerCase()}`];
    if (!v) throw Object.assign(new Error(`no ${rr} for ${name}`), { code: 'ENOTFOUND' });
    return v as never;
  };
}

export interface Sink {
  port: number;
  messages: { from: string; to: string[]; raw: Buffer }[];
  close(): Promise<void>;
}

/** A receiving MTA stand-in written with smtp-server (for the outbound tests that do not run Postfix). */
export async function startSink(opts: { refuse?: (rcpt: string) => number | undefined } = {}): Promise<Sink> {
  const messages: Sink['messages'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onRcptTo(address, _s, cb) {
      const code = opts.refuse?.(address.address);
      if (code) return cb(Object.assign(new Error(`refused ${address.address}`), { responseCode: code }));
      cb();
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        messages.push({ from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(parts) });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Wait (bounded) until `check` returns something. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A raw SMTP conversation: send each line, read each reply (bounded by a timeout); returns the replies. */
export async function smtpTalk(port: number, steps: (string | { data: Buffer })[], timeoutMs = 20_000): Promise<string[]> {
  const { connect } = await import('node:net');
  const sock = connect(port, '127.0.0.1');
  const replies: string[] = [];
  let buf = '';
  let waiting: ((line: string) => void) | undefined;
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    for (;;) {
      // A reply ends at a line "NNN text" (a dash after the code continues it).
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buf);
      if (!m) break;
      const end = m.index + m[0].length;
      const reply = buf.slice(0, end);
      buf = buf.slice(end);
      waiting?.(reply.trim());
    }
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('smtp: no reply in time')), timeoutMs);
      waiting = (line) => {
        clearTimeout(t);
        waiting = undefined;
        resolve(line);
      };
    });
  try {
    replies.push(await next()); // greeting
    for (const s of steps) {
      const reply = next();
      if (typeof s === 'string') sock.write(`${s}\r\n`);
      else sock.write(s.data);
      replies.push(await reply);
    }
  } finally {
    sock.destroy();
  }
  return replies;
}

/** GnuPG with its own home folder (never the user's keyring): `gpg(args, stdin?)` → what it printed. */
export function gpgIn(home: string): (args: string[], input?: string) => Promise<string> {
  return (args, input) =>
    new Promise<string>((resolve, reject) => {
      const p = run('gpg', ['--homedir', home, '--batch', '--yes', '--trust-model', 'always', ...args]);
      if (input !== undefined) p.child.stdin!.end(input);
      p.then((r) => resolve(r.stdout + r.stderr), reject);
    });
}

/** An outside person's GnuPG key as GnuPG 2.2 makes it (Ed25519 signing, Curve25519 encryption); its fingerprint. */
export async function makeGpgKey(gpg: (args: string[]) => Promise<string>, userId: string, email: string): Promise<string> {
  await gpg(['--quick-generate-key', '--passphrase', '', userId, 'ed25519', 'default', '0']);
  const fpr = (await gpg(['--list-keys', '--with-colons', email])).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
  await gpg(['--quick-add-key', '--passphrase', '', fpr, 'cv25519', 'encr', '0']);
  return fpr;
}
