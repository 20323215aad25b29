// The client SDK's public types: options, what it returns (messages, mail summaries, checks, held messages) and
// the server facts it keeps (GET /v1/info).
import {
  safetyNumber,
  type AttachmentSummary,
  type FileRef,
  type ConversationId,
  type ConversationKind,
  type DeviceId,
  type MessageId,
  type UserId,
  type SuiteName,
} from '@sealpost/protocol';
import type { MailSummary } from './mail.js';
import type { WebSocketFactory } from './socket.js';
import type { FileSource } from './platform.js';
import type { KtStatus } from './kt-verifier.js';


export interface ClientOptions {
  /** Where warnings go (a message that could not be processed, a retry). Default: nowhere. */
  warn?: (message: string) => void;
  /** Passphrase of an encrypted local store (required when the organisation's policy says so). */
  passphrase?: string;
  /** How long to wait for key-transparency auditors to co-sign a new tree head when policy requires it (default 20 s). */
  ktAuditWaitMs?: number;
  /** How often `watch` checks this account's own label in the log (and releases held messages); default 5 minutes. */
  selfCheckIntervalMs?: number;
  webSocket?: WebSocketFactory;
  /** Test double hooks, named as such: let a test simulate a crash at a precise point. Never set in product code. */
  testHooks?: { beforeAck?: () => void; beforeCommitSend?: () => Promise<void>; afterUploadPart?: (part: number) => void };
}

export interface ChatMessage {
  type: 'message';
  conversation: ConversationId;
  id: MessageId;
  from: UserId;
  sentAt: string;
  text: string;
  /** Present when the message carries files. */
  attachments?: AttachmentSummary[];
}

/** What sync and watch report: chat messages and mail. */
export type Received = ChatMessage | MailSummary;

export interface MailDraft {
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  text: string;
  html?: string;
  /** Files to attach: paths in Node, picked files in a browser. */
  attach?: FileSource[];
  /**
   * The Message-ID this mail answers and the thread's References (a reply written in a mail program, through the IMAP
   * bridge): it joins that mail's thread when it goes to the same people, like `replyMail`.
   */
  inReplyTo?: string;
  references?: string[];
}

export interface ConversationSummary {
  id: ConversationId;
  kind: ConversationKind;
  members: UserId[];
  status: 'active' | 'removed';
  /** The name a member gave it (`conversation rename`), if any. */
  name?: string;
  /** Its MLS suite, fixed for its life: pq-hybrid (X-Wing, post-quantum) or classic. */
  suite: SuiteName;
  /**
   * The organisation's archive is a member, under the legal holds named (docs/legal-hold.md): what is sent here from
   * `since` on is recorded. `acknowledged`: this device's user has confirmed seeing it (sending needs that once).
   */
  archived?: { holds: { user: UserId; id: string; since: string; reason: string }[]; since: string; acknowledged: boolean };
}

/** What the server tells every device before it trusts it with anything (GET /v1/info). */
export interface ServerInfo {
  domain: string;
  orgKey: string;
  kt?: { signatureKey: string; vrfKey: string; epochMs: number };
  policy: { requirePassphrase: boolean; retentionDefaultMs: number | null; retentionMaxMs: number | null; maxAttachmentBytes: number; maxDevicesPerUser: number; keyUpdateIntervalMs?: number | null; keyChangeContestMs?: number; outsideMail?: 'openpgp-only' | 'tls-allowed' | 'off'; conversationSuite?: SuiteName };
}

export interface LinkCode {
  code: string;
  /** What a QR code shows: server, user, code and the fingerprint, so the approving device can check it itself. */
  qr: string;
  /** The new device's key fingerprint: the approving device shows the same digits. */
  fingerprint: string;
  expiresAt: string;
}

export interface LinkRequestInfo {
  device: DeviceId;
  deviceName: string | null;
  fingerprint: string;
  createdAt: string;
}

export interface SelfCheck {
  ok: boolean;
  /** What this check found wrong (empty when ok). */
  problems: string[];
  /** The last alarm raised on this device, if any (kept until the profile is reset). */
  alarm: { at: string; problems: string[] } | null;
  kt: KtStatus;
}

export interface VerifyResult {
  user: UserId;
  safetyNumber: string;
  qr: string;
  kt: { verified: boolean; version: number; head: { size: number; root: string } };
  confirmed: boolean;
  changedSinceConfirmed: boolean;
  devices: number;
  /** Every change of this contact's account key this device saw (an admin reset in the log), whether or not confirmed. */
  keyChanges: { at: string; acknowledged: boolean }[];
  /**
   * A new account key of this contact that is not used yet: `pending` in its contest period (until `until`), or
   * `refused` because the contact's own devices objected. The safety number shown is the one with the new key;
   * confirming it (`confirm`/`peer`) makes this device use the key at once.
   */
  keyChange?: { status: 'pending' | 'refused'; retiredAt: number; until?: string; reason?: string };
  /**
   * The organisation's legal hold on this contact, as published in the key-transparency log and signed by the
   * organisation key (checked): `active` while their conversations go to the organisation's archive.
   */
  hold?: { id: string; reason: string; since: string; until?: string; releasedAt?: string; active: boolean };
  /** Your conversations with this contact and the MLS suite each keeps for life (pq-hybrid: post-quantum). */
  conversations: { id: ConversationId; suite: SuiteName }[];
}

/** A message held back while a recipient's new account key is in its contest period (see trust.ts). */
export interface HeldInfo {
  users: UserId[];
  /** When the last of the recipients' contest periods ends, unless one is objected to first. */
  until: string;
  reason: string;
}

/** A message waiting in the outbox for a recipient's key change to be settled. */
export interface HeldSummary {
  id: string;
  kind: 'chat' | 'mail';
  to: UserId[];
  waitingFor: UserId[];
  createdAt: string;
}

/** What a held message became when its recipients' key change was refused. */
export interface DiscardedSummary {
  id: string;
  kind: 'chat' | 'mail';
  to: UserId[];
  reason: string;
}

/** A held message as kept in the store: what to send, and the ids promised to the user when it was held. */
export type HeldRequest =
  | { kind: 'chat'; id: MessageId; conversation: ConversationId; users: UserId[]; text: string; files: FileSource[]; sentAt: number }
  | { kind: 'mail'; id: MessageId; thread: ConversationId; sentAt: number; mail: ComposeRequest };

export interface ComposeRequest {
  to: UserId[]; cc: UserId[]; bcc: UserId[]; subject: string; text: string; html?: string | undefined;
  files: FileSource[]; carried: FileRef[]; inReplyTo?: string; references?: string[];
}

export interface OwnDevice {
  id: DeviceId;
  name: string | null;
  createdAt: string;
  lastSeenAt: string | null;
  status: 'active' | 'revoked';
  /** Whether the account-signed device list names it. */
  signed: boolean;
  current: boolean;
}
