// Outside mail on its way out (design.md, Outside mail). A device submits a message it built (PGP/MIME-encrypted
// when it knew every recipient's key); the server checks policy, limits and that the From is the sender's own
// address, DKIM-signs it with the organisation's key, seals it at rest and queues it. A worker delivers to each
// recipient domain's MX (or a route / smarthost) over SMTP with STARTTLS when offered, retries with backoff, and
// after the give-up time returns a bounce (RFC 3464 DSN) to the sender as inbound mail.
import { createHash } from 'node:crypto';
import { promises as dns } from 'node:dns';
import nodemailer from 'nodemailer';
import { dkimSign } from 'mailauth';
import {
  SealpostError,
  fromBase64Url,
  mailDomainOf,
  parseMessageId,
  toBase64Url,
  utf8,
  MAX_OUTBOUND_MAIL_BYTES,
  type OutboundQueueEntry,
  type OutboundSubmit,
  type UserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { OutboundRecord } from '../store/store.js';
import { openAtRest, sealAtRest } from '../server-secret.js';
import { getPolicy } from '../admin/policy-store.js';
import { loadDkimKey } from './dkim-key.js';
import { mailKeysOf } from './mail-keys.js';
import { deliverInbound } from './inbound-delivery.js';
import type { MailResolver } from './smtp-gateway.js';

export interface OutboundOptions {
  /** Per recipient domain, "host:port" to deliver to instead of its MX (tests; organisations that route). */
  routes?: Record<string, string>;
  /** "host:port" every message goes through (an organisation's relay). */
  smarthost?: string;
  /** DNS for MX lookups (node's by default). */
  resolver?: MailResolver;
  /** Waits between attempts; the last repeats (default 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h). */
  retryMs?: number[];
  /** After this long in the queue a recipient still not reached gets a bounce (default 5 days). */
  giveUpMs?: number;
  /** Verify the receiving server's certificate (default off: opportunistic STARTTLS, as MX delivery does without MTA-STS). */
  verifyTls?: boolean;
  /** The port MX hosts are reached on: 25, always, but for tests on loopback (a test cannot take port 25). */
  mxPort?: number;
}

const DEFAULT_RETRY_MS = [60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 7_200_000, 14_400_000];
const DEFAULT_GIVE_UP_MS = 5 * 24 * 3_600_000;
const LEASE_MS = 5 * 60_000;
const AT_REST = 'outbound-mail';

/** The header block of a message (up to the first empty line), unfolded; bounded so a header of any size costs linear time. */
function headerLines(raw: Uint8Array): string[] {
  const limit = Math.min(raw.length, 1024 * 1024);
  const text = Buffer.from(raw.buffer, raw.byteOffset, limit).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  if (end < 0) throw new SealpostError('INVALID_INPUT', 'message: no end of headers within the first 1 MiB');
  return text.slice(0, end).replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

function fromAddressOf(raw: Uint8Array): string | undefined {
  const from = headerLines(raw).filter((l) => /^from:/i.test(l));
  if (from.length !== 1) return undefined;
  const v = from[0]!.slice(5).trim();
  const angle = /<([^<>\s]+)>\s*$/.exec(v);
  return (angle ? angle[1]! : v).toLowerCase();
}

/** POST /v1/mail/outbound. Returns how many recipients were queued (0 for a retry of a queued submission). */
export async function submitOutbound(ctx: ServerContext, me: { user: UserId }, body: OutboundSubmit): Promise<{ id: string; queued: number }> {
  const policy = await getPolicy(ctx);
  if (policy.outsideMail === 'off') throw new SealpostError('OUTSIDE_MAIL_DISABLED', 'this organisation sends no mail outside it (policy outside-mail off)');
  if (!body.encrypted && policy.outsideMail === 'openpgp-only') {
    throw new SealpostError('OUTSIDE_MAIL_NEEDS_KEY', 'policy outside-mail openpgp-only: only mail encrypted to every outside recipient\'s OpenPGP key may leave');
  }
  const to = [...new Set(body.to)];
  const inside = to.find((a) => mailDomainOf(a) === ctx.domain);
  if (inside) throw new SealpostError('INVALID_INPUT', `${inside} is inside the organisation: mail to it goes over MLS, not SMTP`);
  const raw = fromBase64Url(body.raw);
  if (!raw) throw new SealpostError('INVALID_INPUT', 'raw: not base64url');
  if (raw.length > MAX_OUTBOUND_MAIL_BYTES) throw new SealpostError('PAYLOAD_TOO_LARGE', `message is ${raw.length} bytes; at most ${MAX_OUTBOUND_MAIL_BYTES}`);
  // The server signs with the organisation's key: never a message that claims another sender.
  const from = fromAddressOf(raw);
  if (from !== me.user) throw new SealpostError('FORBIDDEN', `the message's From must be your own address (${me.user}), once`);
  const now = ctx.clock.now();
  const sentToday = await ctx.store.outboundCountSince(me.user, now - 24 * 3_600_000);
  if (sentToday + to.length > policy.outsideMailPerDay) {
    throw new SealpostError('RATE_LIMITED', `outside mail: ${sentToday} recipients in the last 24 hours; the limit is ${policy.outsideMailPerDay} (policy outside-mail-per-day)`);
  }
  const key = await loadDkimKey(ctx);
  // mailauth signs with the entries of signatureData (its typings name only the top-level fields, which it ignores).
  const signature = { signingDomain: ctx.domain, selector: key.selector, privateKey: key.privateKeyPem, algorithm: 'rsa-sha256', canonicalization: 'relaxed/relaxed' };
  const signed = await dkimSign(Buffer.from(raw), { ...signature, signTime: new Date(now), signatureData: [signature] } as Parameters<typeof dkimSign>[1]);
  if (!/^DKIM-Signature:/i.test(signed.signatures)) throw new SealpostError('INTERNAL', 'DKIM signing produced no signature');
  if (signed.errors.length > 0) throw new SealpostError('INTERNAL', `DKIM signing failed: ${String((signed.errors[0] as { error?: Error }).error?.message ?? 'unknown')}`);
  const message = Buffer.concat([Buffer.from(signed.signatures), Buffer.from(raw)]);
  const id = `${me.user}/${body.id}`;
  const queued = await ctx.store.queueOutbound({
    id,
    user: me.user,
    from: me.user,
    to,
    payload: sealAtRest(ctx.secret, AT_REST, utf8(id), message),
    size: message.length,
    encrypted: body.encrypted,
    queuedAt: now,
    attempts: 0,
    nextAttemptAt: now,
    lastError: undefined,
  });
  ctx.log.info({ recipients: to.length, bytes: message.length, encrypted: body.encrypted }, 'mail: outbound queued');
  return { id: body.id, queued: queued ? to.length : 0 };
}

export function outboundQueueEntry(r: OutboundRecord): OutboundQueueEntry {
  return {
    id: r.id,
    from: r.from,
    to: r.to,
    size: r.size,
    encrypted: r.encrypted,
    queuedAt: new Date(r.queuedAt).toISOString(),
    attempts: r.attempts,
    nextAttemptAt: new Date(r.nextAttemptAt).toISOString(),
    lastError: r.lastError ?? null,
  };
}

type Outcome = { kind: 'sent' } | { kind: 'temporary'; error: string } | { kind: 'permanent'; error: string };

/** The hosts to try for a domain, best first: a route, the smarthost, its MX records, or (no MX) the domain itself. */
async function targetsFor(domain: string, opts: OutboundOptions): Promise<{ host: string; port: number }[]> {
  const hp = (s: string) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
  };
  const route = opts.routes?.[domain];
  if (route) return [hp(route)];
  if (opts.smarthost) return [hp(opts.smarthost)];
  const resolve = opts.resolver ?? ((name: string, rr: string) => dns.resolve(name, rr as 'MX'));
  let mx: { exchange: string; priority: number }[] = [];
  try {
    mx = (await resolve(domain, 'MX')) as unknown as { exchange: string; priority: number }[];
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ENODATA' && code !== 'ENOTFOUND') throw err;
  }
  // RFC 7505: a null MX says the domain takes no mail.
  if (mx.length === 1 && mx[0]!.exchange === '') return [];
  const port = opts.mxPort ?? 25;
  if (mx.length === 0) return [{ host: domain, port }]; // RFC 5321 §5.1: no MX, the domain itself
  return [...mx].sort((a, b) => a.priority - b.priority).slice(0, 5).map((m) => ({ host: m.exchange, port }));
}

async function deliverTo(ctx: ServerContext, opts: OutboundOptions, from: string, rcpts: string[], message: Buffer): Promise<Map<string, Outcome>> {
  const out = new Map<string, Outcome>();
  const domain = mailDomainOf(rcpts[0]!);
  let targets: { host: string; port: number }[];
  try {
    targets = await targetsFor(domain, opts);
  } catch (err) {
    for (const r of rcpts) out.set(r, { kind: 'temporary', error: `DNS lookup of ${domain} failed: ${(err as Error).message}` });
    return out;
  }
  if (targets.length === 0) {
    for (const r of rcpts) out.set(r, { kind: 'permanent', error: `${domain} accepts no mail (null MX)` });
    return out;
  }
  let lastError = 'no host answered';
  for (const t of targets) {
    const transport = nodemailer.createTransport({
      host: t.host,
      port: t.port,
      secure: false,
      name: ctx.domain,
      opportunisticTLS: true,
      tls: { rejectUnauthorized: opts.verifyTls ?? false },
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 120_000,
      logger: false,
    });
    try {
      const info = await transport.sendMail({ envelope: { from, to: rcpts }, raw: message });
      for (const r of info.accepted as string[]) out.set(r, { kind: 'sent' });
      for (const r of rcpts) if (!out.has(r)) out.set(r, { kind: 'permanent', error: 'recipient refused' });
      return out;
    } catch (err) {
      const e = err as { responseCode?: number; message: string; rejected?: string[] };
      lastError = `${t.host}:${t.port}: ${e.message.slice(0, 300)}`;
      // 5xx for the whole transaction is final; a refused recipient list (all 5xx) too.
      if (e.responseCode !== undefined && e.responseCode >= 500) {
        for (const r of rcpts) out.set(r, { kind: 'permanent', error: lastError });
        return out;
      }
    } finally {
      transport.close();
    }
  }
  for (const r of rcpts) out.set(r, { kind: 'temporary', error: lastError });
  return out;
}

/** RFC 3464 delivery status notification for the recipients that could not be reached, as inbound mail to the sender. */
function bounceMessage(domain: string, record: OutboundRecord, failed: { rcpt: string; error: string }[], original: Buffer, now: number): Uint8Array {
  const boundary = `sealpost-dsn-${toBase64Url(createHash('sha256').update(record.id).digest().subarray(0, 12))}`;
  const headersEnd = original.indexOf('\r\n\r\n');
  const originalHeaders = original.subarray(0, headersEnd < 0 ? Math.min(original.length, 64 * 1024) : Math.min(headersEnd, 64 * 1024)).toString('latin1');
  const lines = [
    `From: Mail Delivery System <mailer-daemon@${domain}>`,
    `To: <${record.from}>`,
    `Subject: Undelivered mail returned to sender`,
    `Date: ${new Date(now).toUTCString()}`,
    `Message-ID: <dsn-${toBase64Url(createHash('sha256').update(`${record.id}\0${now}`).digest().subarray(0, 18))}@${domain}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Your message could not be delivered to these recipients:',
    '',
    ...failed.map((f) => `  ${f.rcpt}: ${f.error}`),
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${domain}`,
    `Arrival-Date: ${new Date(record.queuedAt).toUTCString()}`,
    '',
    ...failed.flatMap((f) => [`Final-Recipient: rfc822; ${f.rcpt}`, 'Action: failed', 'Status: 5.0.0', `Diagnostic-Code: smtp; ${f.error.replace(/[\r\n]+/g, ' ')}`, '']),
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    originalHeaders,
    '',
    `--${boundary}--`,
    '',
  ];
  return utf8(lines.join('\r\n'));
}

export interface OutboundWorker {
  /** Look at the queue now (after a submission). */
  kick(): void;
  stop(): Promise<void>;
}

/** The delivery loop: every second (and when kicked), claims due messages with a lease and tries them. */
export function startOutboundWorker(ctx: ServerContext, opts: OutboundOptions = {}): OutboundWorker {
  const retry = opts.retryMs ?? DEFAULT_RETRY_MS;
  const giveUp = opts.giveUpMs ?? DEFAULT_GIVE_UP_MS;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function attempt(r: OutboundRecord): Promise<void> {
    const message = Buffer.from(openAtRest(ctx.secret, AT_REST, utf8(r.id), r.payload));
    const byDomain = new Map<string, string[]>();
    for (const rcpt of r.to) byDomain.set(mailDomainOf(rcpt), [...(byDomain.get(mailDomainOf(rcpt)) ?? []), rcpt]);
    const outcomes = new Map<string, Outcome>();
    for (const rcpts of byDomain.values()) for (const [k, v] of await deliverTo(ctx, opts, r.from, rcpts, message)) outcomes.set(k, v);
    const now = ctx.clock.now();
    const expired = now - r.queuedAt >= giveUp;
    const rest: string[] = [];
    const failed: { rcpt: string; error: string }[] = [];
    let lastError: string | undefined;
    for (const rcpt of r.to) {
      const o = outcomes.get(rcpt) ?? { kind: 'temporary', error: 'not tried' };
      if (o.kind === 'sent') continue;
      lastError = o.error;
      if (o.kind === 'permanent' || expired) failed.push({ rcpt, error: o.kind === 'temporary' ? `gave up after ${Math.round(giveUp / 3_600_000)} h: ${o.error}` : o.error });
      else rest.push(rcpt);
    }
    if (failed.length > 0) await bounce(r, failed, message, now);
    const wait = retry[Math.min(r.attempts - 1, retry.length - 1)]!;
    await ctx.store.outboundAttempted(r.id, rest, now + wait, lastError);
    ctx.log.info({ delivered: r.to.length - rest.length - failed.length, waiting: rest.length, bounced: failed.length, attempt: r.attempts }, 'mail: outbound attempt');
  }

  async function bounce(r: OutboundRecord, failed: { rcpt: string; error: string }[], message: Buffer, now: number): Promise<void> {
    const keys = await mailKeysOf(ctx.store, r.user);
    if (!keys) return ctx.log.warn('mail: a bounce could not be returned (the sender has no mail keys)');
    const raw = bounceMessage(ctx.domain, r, failed, message, now);
    const id = parseMessageId(`dsn${toBase64Url(createHash('sha256').update(`${r.id}\0${failed.map((f) => f.rcpt).join(',')}`).digest().subarray(0, 24))}`);
    await deliverInbound(
      ctx,
      [{ user: r.user, intakeKey: keys.intakeKey }],
      { kind: 'inline', raw },
      { mailFrom: '', received: '', authResults: `Authentication-Results: ${ctx.domain}; none (a bounce made by this server)\r\n`, now },
      () => id,
    );
  }

  async function runOnce(): Promise<void> {
    do {
      again = false;
      const now = ctx.clock.now();
      const due = await ctx.store.claimOutbound(now, now + LEASE_MS, 20);
      await Promise.all(due.map((r) => attempt(r).catch((err) => ctx.log.error({ err }, 'mail: outbound attempt failed'))));
      if (due.length === 20) again = true;
    } while (again && !stopped);
  }

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = runOnce()
      .catch((err) => ctx.log.error({ err }, 'mail: outbound queue run failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(kick, 1000);
  timer.unref();
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}


