// Sending and reading mail: threads, To/Cc/Bcc, reply, reply-all, forward.
import {
  SealpostError,
  encodeContent,
  limits,
  newConversationId,
  newMessageId,
  parseUserId,
  peopleOf,
  userDomain,
  type BlobId,
  type FileRef,
  type Mail,
  type ConversationId,
  type MessageId,
  type UserId,
} from '@sealpost/protocol';
import type { FileSource, Progress } from './platform.js';
import {
  forwardSubject,
  forwardText,
  isMailMessageId,
  mailAnswered,
  mailSummary,
  newMailMessageId,
  replyRecipients,
  replySubject,
  type MailFull,
  type MailSummary,
} from './mail.js';
import type { MessageRow } from './profile-storage.js';
import type { ComposeRequest, HeldInfo, HeldRequest, MailDraft } from './types.js';
import { ClientCore, ClientPart, uniqueUsers } from './core/client-core.js';
import type { Membership } from './membership.js';
import type { Sender } from './sending.js';

/**
 * Mail: each mail starts a thread (an MLS group of kind mail) with the sender, To and Cc; each Bcc recipient gets a
 * thread and a copy of their own. Reply, reply-all and forward follow the rules in mail.ts.
 */
export class MailSender extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly membership: Membership,
    private readonly sender: Sender,
    private readonly beforeSend: () => Promise<void>,
  ) {
    super(core);
  }

  /**
   * Send a mail. Each mail starts a thread (a conversation of kind `mail`) with the sender, To and Cc; each Bcc
   * recipient gets an own thread with an own copy that names only them. Everything is checked — recipients exist,
   * files are readable, the mail fits — before anything is uploaded or sent.
   */
  sendMail(draft: MailDraft, opts: { onProgress?: Progress } = {}): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.beforeSend();
      const to = uniqueUsers(draft.to.map((u) => this.qualify(u)));
      const cc = uniqueUsers((draft.cc ?? []).map((u) => this.qualify(u))).filter((u) => !to.includes(u));
      const bcc = uniqueUsers((draft.bcc ?? []).map((u) => this.qualify(u))).filter((u) => !to.includes(u) && !cc.includes(u));
      // An answer written elsewhere (a mail program) names what it answers only by Message-ID.
      const inReplyTo = isMailMessageId(draft.inReplyTo) ? draft.inReplyTo : undefined;
      const references = (draft.references ?? []).filter(isMailMessageId).slice(-100);
      const answered = inReplyTo ? mailAnswered(this.store, [inReplyTo, ...references.slice().reverse()]) : undefined;
      return this.composeAndSend(
        { to, cc, bcc, subject: draft.subject, text: draft.text, html: draft.html, files: draft.attach ?? [], carried: [], ...(inReplyTo ? { inReplyTo, references } : {}) },
        answered ? this.replyThread(answered.conversation, [...to, ...cc]) : undefined,
        opts.onProgress,
      );
    });
  }

  /** Mail in this device's store, oldest first. `inbox`: received; `sent`: sent from this account. */
  mailList(folder: 'inbox' | 'sent' = 'inbox'): MailSummary[] {
    return this.store
      .listMail()
      .filter((m) => (folder === 'sent' ? m.senderUser === this.user && m.content.copyOf === undefined : m.senderUser !== this.user))
      .map((m) => mailSummary(m.content as unknown as Mail, m.conversation, !m.read));
  }

  /** The whole mail, marked read. */
  readMail(id: string): MailFull {
    const row = this.requireMail(id);
    this.store.markRead(row.conversation, row.id);
    const m = row.content as unknown as Mail;
    return { ...mailSummary(m, row.conversation, false), text: m.text, html: m.html ?? null };
  }

  /** The whole mail, its read state untouched (a mail client's "peek"). */
  peekMail(id: string): MailFull {
    const row = this.requireMail(id);
    const m = row.content as unknown as Mail;
    return { ...mailSummary(m, row.conversation, !row.read), text: m.text, html: m.html ?? null };
  }

  /** Mark a mail read (a mail client set \Seen). */
  markMailRead(id: string): void {
    const row = this.requireMail(id);
    this.store.markRead(row.conversation, row.id);
  }

  /**
   * Reply. Reply-all stays in the thread. A reply to the sender alone stays in the thread only when the thread is
   * just the two of you; otherwise it starts a new thread, so nobody else sees it.
   */
  replyMail(id: string, reply: { all?: boolean; text: string; attach?: FileSource[] }, opts: { onProgress?: Progress } = {}): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.membership.flushPendingCommits();
      const row = this.requireMail(id);
      const orig = row.content as unknown as Mail;
      const fromBcc = orig.bcc !== undefined && orig.from !== this.user;
      const { to, cc } = replyRecipients(orig, this.user, Boolean(reply.all) && !fromBcc);
      if (to.length === 0) throw new SealpostError('INVALID_INPUT', 'nobody to reply to');
      return this.composeAndSend(
        {
          to,
          cc,
          bcc: [],
          subject: replySubject(orig.subject),
          text: reply.text,
          files: reply.attach ?? [],
          carried: [],
          inReplyTo: orig.messageId,
          references: [...orig.references, orig.messageId].slice(-100),
        },
        this.replyThread(row.conversation, [...to, ...cc]),
        opts.onProgress,
      );
    });
  }

  /**
   * Where an answer goes: into the thread it answers when that thread is exactly the sender and these recipients (so
   * nobody else sees it), otherwise into a new thread (its In-Reply-To still places it for every reader).
   */
  private replyThread(conversation: ConversationId, recipients: UserId[]): ConversationId | undefined {
    const thread = this.store.getConversation(conversation);
    const everyone = new Set<string>([this.user, ...recipients]);
    const people = thread ? peopleOf(thread.members) : [];
    const same = thread?.status === 'active' && people.length === everyone.size && people.every((u) => everyone.has(u));
    return same ? conversation : undefined;
  }

  /** Forward a mail, with its attachments, to new recipients, in a new thread. */
  forwardMail(id: string, fwd: { to: string[]; cc?: string[]; text?: string }): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.membership.flushPendingCommits();
      const orig = this.requireMail(id).content as unknown as Mail;
      const to = uniqueUsers(fwd.to.map((u) => this.qualify(u)));
      const cc = uniqueUsers((fwd.cc ?? []).map((u) => this.qualify(u))).filter((u) => !to.includes(u));
      return this.composeAndSend({
        to,
        cc,
        bcc: [],
        subject: forwardSubject(orig.subject),
        text: forwardText(fwd.text, orig),
        ...(orig.html ? { html: orig.html } : {}),
        files: [],
        carried: orig.attachments as FileRef[],
      });
    });
  }

  requireMail(id: string): MessageRow {
    const row = /^[A-Za-z0-9_-]{8,64}$/.test(id) ? this.store.findMail(id as MessageId) : undefined;
    if (!row) throw new SealpostError('MAIL_NOT_FOUND', `no mail ${id} on this device`);
    return row;
  }

  async composeAndSend(
    m: ComposeRequest,
    thread?: ConversationId,
    onProgress?: Progress,
    release?: { id: MessageId; thread: ConversationId; sentAt: number },
  ): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    const strip = (us: UserId[]) => us.filter((u) => u !== this.user);
    const to = strip(m.to);
    const cc = strip(m.cc);
    const bcc = strip(m.bcc);
    if (to.length + cc.length === 0) throw new SealpostError('INVALID_INPUT', 'to: name at least one recipient other than yourself');
    if (to.length + cc.length + bcc.length > limits.maxMailRecipients) {
      throw new SealpostError('TOO_MANY_RECIPIENTS', `at most ${limits.maxMailRecipients} recipients (To, Cc and Bcc together)`);
    }
    if (m.subject.length > limits.maxSubjectChars) throw new SealpostError('PAYLOAD_TOO_LARGE', `subject: longer than ${limits.maxSubjectChars} characters`);
    // Sent where the organisation's archive records: confirmed once per hold (a held message was confirmed when written).
    if (!release) await this.sender.requireArchiveAcknowledged(thread, [...to, ...cc, ...bcc, this.user]);
    for (const [what, body] of [['body', m.text], ['html', m.html ?? '']] as const) {
      if (body.length > limits.maxMailBodyChars) throw new SealpostError('PAYLOAD_TOO_LARGE', `${what}: longer than ${limits.maxMailBodyChars} characters`);
    }
    if (m.files.length + m.carried.length > limits.maxAttachments) throw new SealpostError('INVALID_INPUT', `at most ${limits.maxAttachments} attachments`);
    const pending = await this.sender.keyChangesPending([...to, ...cc, ...bcc]);
    if (pending.length > 0 && release) throw pending[0]!; // still contested: stays held
    for (const f of m.files) await this.files.checkReadable(f);
    if (pending.length > 0) {
      // A thread from before the change holds only the old key's devices: the mail will start a new thread (its
      // In-Reply-To and References still place it in the conversation for every reader).
      const id = newMessageId();
      const request: HeldRequest = { kind: 'mail', id, thread: newConversationId(), sentAt: Date.now(), mail: m };
      return { id, thread: request.thread, held: this.sender.hold(request, pending) };
    }

    const base = {
      v: 1 as const,
      type: 'mail' as const,
      sentAt: release?.sentAt ?? Date.now(),
      messageId: newMailMessageId(userDomain(this.user)),
      ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
      references: m.references ?? [],
      from: this.user,
      to,
      cc,
      subject: m.subject,
      text: m.text,
      ...(m.html ? { html: m.html } : {}),
    };
    // Size check with stand-in references of the real length, before any upload.
    const standIn = [...m.carried, ...m.files.map(() => m.carried[0] ?? placeholderRef)];
    const probe = encodeContent({ ...base, id: newMessageId(), attachments: standIn, ...(bcc.length > 0 ? { bcc: [bcc[0]!], copyOf: newMessageId() } : {}) });
    if (probe.length > limits.maxMlsMessageBytes - 4096) {
      throw new SealpostError('PAYLOAD_TOO_LARGE', `mail is ${probe.length} bytes; at most ${limits.maxMlsMessageBytes - 4096} fit one message (send large text as an attachment)`);
    }

    const attachments = [...m.carried, ...(await this.sender.uploadAll(m.files, onProgress))];
    const conversation =
      thread ??
      (release && this.store.getConversation(release.thread) ? release.thread : await this.membership.createConversation('mail', uniqueUsers([...to, ...cc]), release?.thread));
    const id = release?.id ?? newMessageId();
    const mail: Mail = { ...base, id, attachments };
    // The sender's own record names all Bcc recipients; each Bcc copy names only its recipient; other copies none.
    await this.sender.sendContent(conversation, mail, { record: true, ...(bcc.length > 0 ? { as: { ...mail, bcc } } : {}) });
    for (const b of bcc) {
      const own = await this.membership.createConversation('mail', [b]);
      // Each Bcc copy gets its own upload of the new files (a fresh key, so other ciphertext and other blob ids):
      // shared ids would let the server tie the Bcc copies to the original. Files carried over from an earlier
      // mail (a forward) keep their ids.
      const files = m.files.length > 0 ? await this.sender.uploadAll(m.files, onProgress) : [];
      await this.sender.sendContent(own, { ...mail, id: newMessageId(), bcc: [b], copyOf: id, attachments: [...m.carried, ...files] }, { record: false });
    }
    return { id, thread: conversation };
  }
}

/** Stands in for a real file reference when checking a mail's size before uploading (same encoded length). */
const placeholderRef: FileRef = {
  id: 'b_AAAAAAAAAAAAAAAAAAAAAA' as BlobId,
  key: 'A'.repeat(43),
  hash: 'A'.repeat(43),
  size: Number.MAX_SAFE_INTEGER,
  chunkSize: 1024 * 1024,
  name: 'n'.repeat(255),
  type: 't'.repeat(127),
};
