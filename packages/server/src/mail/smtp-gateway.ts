// The inbound SMTP gateway (`sealpost server --smtp-listen`): outside mail for the organisation's own domain only
// (never a relay), recipients checked at RCPT, SPF/DKIM/DMARC/ARC checked with mailauth, and each message sealed to
// every recipient's intake key (intake-sealer.ts) and queued to their devices before the 250 is sent.
import { PassThrough } from 'node:stream';
import { hkdfSync } from 'node:crypto';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { authenticate } from 'mailauth';
import { SealpostError, parseUserId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { IntakeSealer, intakeMessageId } from './intake-sealer.js';
import { deliverInbound, type InboundRecipient } from './inbound-delivery.js';
import { mailKeysOf } from './mail-keys.js';

export interface SmtpGatewayOptions {
  host: string;
  port: number;
  /** Largest message accepted (announced with SIZE; bigger ones get 552). */
  maxBytes: number;
  /** Recipients in one message (more get 452, as RFC 5321 §4.5.3.1.10 allows). */
  maxRecipients: number;
  /** The server's certificate for STARTTLS; without it STARTTLS is not offered. */
  tls?: { cert: Buffer; key: Buffer };
  /** DNS for SPF/DKIM/DMARC/ARC: node's by default; tests give fixed answers. */
  resolver?: MailResolver;
}

/** mailauth's DNS resolver shape (name, record type) → answers; also used for MX lookups of outbound mail. */
export type MailResolver = NonNullable<NonNullable<Parameters<typeof authenticate>[1]>['resolver']>;

export const defaultSmtpLimits = { maxBytes: 25 * 1024 * 1024, maxRecipients: 100 };

export interface SmtpGateway {
  port: number;
  /** Use a renewed certificate for new STARTTLS sessions (SIGHUP, with the HTTPS listener's). */
  updateTls(tls: { cert: Buffer; key: Buffer }): void;
  close(): Promise<void>;
}

/** An SMTP reply: smtp-server sends `responseCode` and the message. */
function reply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtpGateway(ctx: ServerContext, opts: SmtpGatewayOptions): Promise<SmtpGateway> {
  const macKey = new Uint8Array(hkdfSync('sha256', ctx.secret.wrapKey, new Uint8Array(0), 'sealpost v1 mail-intake-id', 32));
  const recipients = new WeakMap<SMTPServerSession, InboundRecipient[]>();
  /** RCPT commands of the current transaction (the same address named twice counts twice). */
  const rcptCommands = new WeakMap<SMTPServerSession, number>();

  const server = new SMTPServer({
    name: ctx.domain,
    banner: 'Sealpost mail gateway',
    size: opts.maxBytes,
    authOptional: true,
    disabledCommands: ['AUTH'],
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : { hideSTARTTLS: true }),
    logger: false,
    maxClients: 200,
    // RFC 5321 §4.5.3.1: hard limits on what one client may send before it is cut off.
    socketTimeout: 120_000,
    closeTimeout: 5_000,

    onConnect(session, cb) {
      if (!ctx.rateLimits.smtpConnections.tryTake(session.remoteAddress)) return cb(reply(421, '4.7.0 too many connections from your address; try again later'));
      cb();
    },

    onMailFrom(address, session, cb) {
      recipients.set(session, []);
      rcptCommands.set(session, 0);
      if (address.address.length > 254) return cb(reply(553, '5.1.7 sender address too long'));
      cb();
    },

    onRcptTo(address, session, cb) {
      const list = recipients.get(session) ?? [];
      const named = (rcptCommands.get(session) ?? 0) + 1;
      rcptCommands.set(session, named);
      if (named > opts.maxRecipients) return cb(reply(452, `4.5.3 too many recipients (at most ${opts.maxRecipients} per message)`));
      const at = address.address.lastIndexOf('@');
      const domain = address.address.slice(at + 1).toLowerCase();
      if (at < 1 || domain !== ctx.domain) return cb(reply(550, `5.7.1 relaying denied: this server takes mail for ${ctx.domain} only`));
      let user: UserId;
      try {
        user = parseUserId(address.address);
      } catch {
        return cb(reply(550, '5.1.1 no such user here'));
      }
      if (!ctx.rateLimits.smtpRecipients.tryTake(session.remoteAddress)) return cb(reply(450, '4.7.1 too many messages from your address; try again later'));
      (async () => {
        const rec = await ctx.store.getUser(user);
        if (!rec || rec.status !== 'active') return cb(reply(550, '5.1.1 no such user here'));
        const keys = await mailKeysOf(ctx.store, user);
        // Enrolled but no device has published mail keys yet: the sender's server keeps it and tries again.
        if (!keys) return cb(reply(450, '4.2.1 mailbox not ready yet; try again later'));
        if (!list.some((r) => r.user === user)) list.push({ user, intakeKey: keys.intakeKey });
        recipients.set(session, list);
        cb();
      })().catch((err) => {
        ctx.log.error({ err }, 'smtp: recipient check failed');
        cb(reply(451, '4.3.0 temporary failure; try again later'));
      });
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      receive(stream, session).then(
        (text) => cb(null, text),
        (err: unknown) => {
          if (err instanceof Error && 'responseCode' in err) return cb(err);
          ctx.log.error({ err }, 'smtp: message not stored');
          cb(reply(451, '4.3.0 not stored; try again later'));
        },
      );
    },
  });

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const list = recipients.get(session) ?? [];
    const sealer = new IntakeSealer(ctx.blobs, macKey, opts.maxBytes);
    const forAuth = new PassThrough({ highWaterMark: 256 * 1024 });
    const mailFrom = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
    // Both readers take the stream at the pace of the slower (pipe pauses the source), so memory stays flat.
    stream.pipe(sealer);
    stream.pipe(forAuth);
    const sealed = new Promise<void>((resolve, reject) => {
      sealer.on('finish', resolve);
      sealer.on('error', reject);
    });
    const auth = authenticate(forAuth, {
      ip: session.remoteAddress,
      helo: session.hostNameAppearsAs || session.clientHostname,
      sender: mailFrom,
      mta: ctx.domain,
      disableBimi: true,
      ...(opts.resolver ? { resolver: opts.resolver } : {}),
    }).catch((err: unknown) => {
      forAuth.resume(); // keep the other reader going
      return { headers: `Authentication-Results: ${ctx.domain}; none (not checked: ${String((err as Error).message).slice(0, 80)})\r\n` };
    });
    let body: Awaited<ReturnType<IntakeSealer['body']>>;
    try {
      await sealed;
      if (stream.sizeExceeded || sealer.tooLarge) throw reply(552, `5.3.4 message too big (at most ${opts.maxBytes} bytes)`);
      body = await sealer.body();
    } catch (err) {
      // Nothing refers to a half-written blob (a refused message, a full disk): it goes now.
      if (sealer.blobId) await ctx.blobs.delete(sealer.blobId).catch(() => {});
      stream.resume();
      throw err;
    }
    const authResult = await auth;
    const digest = sealer.digest();
    const now = ctx.clock.now();
    const tls = session.secure ? 'ESMTPS' : 'ESMTP';
    const received = `Received: from ${session.hostNameAppearsAs || 'unknown'} (${session.clientHostname} [${session.remoteAddress}]) by ${ctx.domain} (Sealpost) with ${tls}; ${new Date(now).toUTCString()}\r\n`;
    const stored = await deliverInbound(ctx, list, body, { mailFrom, received, authResults: authResult.headers, now }, (user) => intakeMessageId(digest, macKey, user));
    ctx.log.info({ recipients: list.length, stored, bytes: sealer.size }, 'smtp: message accepted');
    return `2.0.0 stored sealed for ${list.length} recipient${list.length === 1 ? '' : 's'}`;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => ctx.log.warn({ err }, 'smtp: connection error'));
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new SealpostError('LISTEN_FAILED', 'smtp: no port');
  return {
    port: address.port,
    updateTls: (tls) => server.updateSecureContext({ key: tls.key, cert: tls.cert }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
