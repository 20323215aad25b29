// The bridge's SMTP submission port (RFC 6409) on smtp-server: a mail program logs in with AUTH PLAIN and the bridge
// password and hands over a message; it becomes a Sealpost mail sent from this device — colleagues over MLS, outside
// addresses through the outside-mail path — parsed with postal-mime. Recipients only on the envelope are Bcc.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import PostalMime from 'postal-mime';
import { SealpostError } from '@sealpost/protocol';
import { normaliseMessageId, parseReferences, type SealpostClient } from '@sealpost/client';
import type { MailIndex } from './mail-index.js';

export interface Submission {
  port: number;
  close(): Promise<void>;
}

const MAX_SUBMISSION_BYTES = 25 * 1024 * 1024;

const reply = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

/** What a Sealpost error means to a mail program: a permanent refusal with the reason, or try again. */
function smtpError(err: unknown): Error {
  if (err instanceof SealpostError) {
    const temporary = ['SERVER_UNREACHABLE', 'RATE_LIMITED', 'EPOCH_CONFLICT'].includes(err.code);
    return reply(temporary ? 451 : 554, `${temporary ? '4.3.0' : '5.7.1'} ${err.message} [${err.code}]`);
  }
  return reply(451, '4.3.0 not sent; try again');
}

export async function startSubmission(
  client: SealpostClient,
  index: MailIndex,
  opts: { host: string; port: number; tls?: { cert: Buffer; key: Buffer }; sendReadable: boolean; onSent: () => void },
): Promise<Submission> {
  const server = new SMTPServer({
    name: 'sealpost-bridge',
    banner: 'Sealpost bridge submission',
    size: MAX_SUBMISSION_BYTES,
    authMethods: ['PLAIN', 'LOGIN'],
    // On loopback the connection never leaves the machine; elsewhere the bridge only listens with TLS.
    allowInsecureAuth: true,
    ...(opts.tls ? { secure: true, key: opts.tls.key, cert: opts.tls.cert } : { hideSTARTTLS: true }),
    logger: false,
    onAuth(auth, _session, cb) {
      const ok = auth.username?.toLowerCase() === client.user.toLowerCase() && index.checkPassword(auth.password ?? '');
      if (!ok) return setTimeout(() => cb(reply(535, '5.7.8 wrong user name or bridge password')), 200);
      cb(null, { user: client.user });
    },
    onMailFrom(address, _session, cb) {
      if (address.address.toLowerCase() !== client.user.toLowerCase()) return cb(reply(553, `5.7.1 send as ${client.user} only`));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_SUBMISSION_BYTES) chunks.push(c);
      });
      stream.on('end', () => {
        if (stream.sizeExceeded || size > MAX_SUBMISSION_BYTES) return cb(reply(552, `5.3.4 message too big (at most ${MAX_SUBMISSION_BYTES} bytes)`));
        const rcpts = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        send(Buffer.concat(chunks), rcpts).then(
          (id) => cb(null, `2.0.0 sent as Sealpost mail ${id}`),
          (err) => cb(smtpError(err)),
        );
      });
    },
  });

  async function send(raw: Buffer, rcpts: string[]): Promise<string> {
    const parsed = await PostalMime.parse(raw);
    const listed = (xs: { address?: string }[] | undefined) => (xs ?? []).map((x) => (x.address ?? '').toLowerCase()).filter((a) => rcpts.includes(a));
    const to = listed(parsed.to);
    const cc = listed(parsed.cc).filter((a) => !to.includes(a));
    const bcc = rcpts.filter((a) => !to.includes(a) && !cc.includes(a));
    if (to.length === 0 && cc.length === 0 && bcc.length === 0) throw new SealpostError('INVALID_INPUT', 'no recipients');
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-submit-'));
    try {
      const attach = parsed.attachments.slice(0, 20).map((a, i) => {
        const path = join(dir, `${i}-${(a.filename ?? 'attachment').replace(/[/\\\0]/g, '_').slice(0, 100)}`);
        writeFileSync(path, typeof a.content === 'string' ? a.content : new Uint8Array(a.content as ArrayBuffer));
        return path;
      });
      const draft = {
        to: to.length > 0 ? to : cc.length > 0 ? cc : bcc.slice(0, 1),
        cc: to.length > 0 ? cc : [],
        bcc: to.length > 0 || cc.length > 0 ? bcc : bcc.slice(1),
        subject: (parsed.subject ?? '').slice(0, 998),
        text: parsed.text ?? '',
        ...(parsed.html ? { html: parsed.html } : {}),
        attach,
        // A reply written in the mail program joins the Sealpost thread it answers (by In-Reply-To / References).
        ...(normaliseMessageId(parsed.inReplyTo) ? { inReplyTo: normaliseMessageId(parsed.inReplyTo)!, references: parseReferences(parsed.references) } : {}),
      };
      const res = await client.sendMail(draft, { allowReadable: opts.sendReadable });
      opts.onSent();
      return res.id;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  server.on('error', () => {});
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
