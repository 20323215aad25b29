// `sealpost bridge`: a device profile's mail for the mail programs people already use. Keeps the profile in sync over
// the WebSocket (the client's watch), files every Sealpost mail into the bridge's mailboxes with a stored UID, and
// serves them over IMAP (imap-server.ts) and takes mail to send over SMTP submission (smtp-submission.ts), on loopback
// (another address only with TLS), behind a bridge password made on first run and stored hashed.
import { SealpostError } from '@sealpost/protocol';
import type { MailFull, SealpostClient } from '@sealpost/client';
import { MailIndex } from './mail-index.js';
import { startImapServer, type BridgeBackend, type ImapServer } from './imap-server.js';
import { attachmentsOf, downloadStream, renderMail, renderMailOf, type Rendered, type RenderMail } from './render.js';
import { startSubmission, type Submission } from './smtp-submission.js';
import { decodePrepared, encodePrepared } from './prepared.js';
import { headerView, parseStructure } from './mime-structure.js';

export interface BridgeOptions {
  imap: { host: string; port: number };
  smtp: { host: string; port: number };
  tls?: { cert: Buffer; key: Buffer };
  /** Outside recipients without a known OpenPGP key get a readable copy (a mail program cannot be asked). */
  sendReadable?: boolean;
  /** Make a new bridge password even though one exists (the old one stops working). */
  newPassword?: boolean;
  log?: (line: string) => void;
}

export interface Bridge {
  imapPort: number;
  smtpPort: number;
  /** Only when it was made now: shown once. */
  password: string | undefined;
  /** Re-read the profile's mail into the mailboxes (also done on every change the watch sees). */
  reconcile(): void;
  /** Resolves once every mail filed so far has been prepared (rendered and kept) for fast syncs. */
  whenPrepared(): Promise<void>;
  /** Mails in the bridge's mailboxes. */
  mailCount(): number;
  close(): Promise<void>;
}

const RENDER_CACHE = 32;
const VIEW_CACHE = 512;

export async function startBridge(client: SealpostClient, profileDir: string, opts: BridgeOptions): Promise<Bridge> {
  const index = MailIndex.open(profileDir);
  const password = !index.hasPassword() || opts.newPassword ? index.newPassword() : undefined;
  const listeners = new Set<() => void>();
  const cache = new Map<string, Rendered>();

  /** The profile's mail, filed: each new mail gets the next UID of its mailbox; mail gone from the profile leaves. */
  // Mail new to the bridge is rendered once in the background and what a sync needs of it kept (prepared.ts).
  const toPrepare: string[] = [];
  let preparing: Promise<void> | undefined;
  let closing = false;
  const kickPreparer = () => {
    if (preparing) return;
    preparing = (async () => {
      while (toPrepare.length > 0 && !closing) {
        const id = toPrepare.shift()!;
        if (keptOf(id)) continue;
        const m = peek(id);
        if (!m) continue;
        try {
          // A mail with attachments is kept as its shape only: its files are fetched when a client asks for them.
          client.setDerivedMail(id, encodePrepared(await backend.render(id)));
        } catch (err) {
          opts.log?.(`bridge: could not prepare mail ${id}: ${(err as Error).message}`);
        }
      }
    })().finally(() => {
      preparing = undefined;
      if (toPrepare.length > 0 && !closing) kickPreparer();
    });
  };

  const requeued = new Set<string>();
  /** What was kept of a mail, if it is there and this version reads it. */
  const keptOf = (mailId: string) => {
    const bytes = client.derivedMail(mailId);
    return bytes ? decodePrepared(bytes) : undefined;
  };

  const reconcile = (): void => {
    const known = index.allMailIds();
    const present = new Set<string>();
    for (const [folder, box] of [['inbox', 'INBOX'], ['sent', 'Sent']] as const) {
      for (const m of client.mailList(folder)) {
        present.add(m.id);
        if (!known.has(m.id)) {
          index.add(box, m.id, m.thread, m.unread ? [] : ['\\Seen']);
          toPrepare.push(m.id);
        } else if (!m.unread) {
          // Read on this device by another program (the CLI, the web app on this profile): \Seen here too.
          const entry = index.byMailId(m.id);
          if (entry && !entry.flags.includes('\\Seen')) index.setFlags(m.id, [...entry.flags, '\\Seen']);
        }
      }
    }
    // Drafts a mail program saved (kept in the profile): filed in Drafts unless already filed (wherever it was moved).
    for (const id of client.draftIds()) {
      present.add(id);
      if (!known.has(id)) index.add('Drafts', id, '', ['\\Draft']);
    }
    if (toPrepare.length > 0) kickPreparer();
    for (const id of known) {
      if (present.has(id)) continue;
      index.remove(id);
      views.delete(id);
    }
    for (const l of listeners) l();
  };

  // A mail does not change once stored (it can only go): what was read of it is kept for the next command.
  const views = new Map<string, MailFull>();
  const peek = (mailId: string): MailFull | undefined => {
    const hit = views.get(mailId);
    if (hit) return hit;
    let m: MailFull;
    try {
      m = client.peekMail(mailId);
    } catch {
      return undefined;
    }
    views.set(mailId, m);
    if (views.size > VIEW_CACHE) views.delete(views.keys().next().value!);
    return m;
  };

  // A draft is its bytes as the mail program wrote them; its structure is found once and kept with them.
  const drafts = new Map<string, Rendered>();
  const draft = (mailId: string): Rendered | undefined => {
    const hit = drafts.get(mailId);
    if (hit) return hit;
    const bytes = client.draft(mailId);
    if (!bytes) return undefined;
    const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const r = { size: raw.length, raw, root: parseStructure(raw) };
    drafts.set(mailId, r);
    if (drafts.size > RENDER_CACHE) drafts.delete(drafts.keys().next().value!);
    return r;
  };
  const isDraft = (mailId: string) => mailId.startsWith('dr_');

  const backend: BridgeBackend = {
    index,
    user: client.user,
    mail(mailId): RenderMail | undefined {
      if (isDraft(mailId)) {
        const d = draft(mailId);
        return d ? headerView(mailId, d.root, index.byMailId(mailId)?.addedAt ?? Date.now()) : undefined;
      }
      const m = peek(mailId);
      return m ? renderMailOf(m) : undefined;
    },
    async render(mailId) {
      if (isDraft(mailId)) {
        const d = draft(mailId);
        if (!d) throw new SealpostError('MAIL_NOT_FOUND', `draft ${mailId} is gone`);
        return d;
      }
      const hit = cache.get(mailId);
      if (hit) return hit;
      const m = peek(mailId);
      const view = backend.mail(mailId);
      if (!m || !view) throw new SealpostError('MAIL_NOT_FOUND', `mail ${mailId} is gone`);
      const atts = attachmentsOf(m);
      // Attachments are downloaded and decrypted only while a client fetches a part holding them, straight into the answer.
      const rendered = await renderMail(view, atts, (i) => downloadStream((sink) => client.saveAttachment(atts[i]!.id, sink)));
      cache.set(mailId, rendered);
      while (cache.size > RENDER_CACHE) cache.delete(cache.keys().next().value!);
      return rendered;
    },
    prepared(mailId) {
      if (isDraft(mailId)) return undefined;
      const kept = keptOf(mailId);
      // Kept by another version in a form this one does not read (after an upgrade): prepared again in the background.
      if (!kept && !requeued.has(mailId) && client.derivedMail(mailId)) {
        requeued.add(mailId);
        toPrepare.push(mailId);
        kickPreparer();
      }
      return kept;
    },
    appendDraft(raw, flags, internalDate) {
      const id = client.saveDraft(raw);
      const m = index.add('Drafts', id, '', flags, internalDate);
      for (const l of listeners) l();
      return m;
    },
    async markRead(mailId) {
      if (!isDraft(mailId)) client.markMailRead(mailId);
    },
    async deleteMail(mailId) {
      const m = index.byMailId(mailId);
      views.delete(mailId);
      drafts.delete(mailId);
      if (isDraft(mailId)) client.deleteDraft(mailId);
      else if (m) await client.deleteMessage(m.thread as never, mailId as never);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };

  reconcile();
  let imap: ImapServer | undefined;
  let smtp: Submission | undefined;
  try {
    imap = await startImapServer(backend, { ...opts.imap, ...(opts.tls ? { tls: opts.tls } : {}), ...(opts.log ? { log: opts.log } : {}) });
    smtp = await startSubmission(client, index, { ...opts.smtp, ...(opts.tls ? { tls: opts.tls } : {}), sendReadable: opts.sendReadable ?? false, onSent: reconcile });
  } catch (err) {
    await imap?.close();
    index.close();
    throw err;
  }
  return {
    imapPort: imap.port,
    smtpPort: smtp.port,
    password,
    reconcile,
    async whenPrepared() {
      while (preparing) await preparing;
    },
    mailCount: () => index.allMailIds().size,
    async close() {
      closing = true;
      await preparing;
      await imap!.close();
      await smtp!.close();
      index.close();
      },
  };
}
