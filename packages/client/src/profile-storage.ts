// What a client keeps on its device, as a contract: the rows (conversations and their MLS state, messages, the
// outbox, pending commits, trust, key contests, held messages) and the operations the client parts use. SQLite in
// Node (profile-store.node.ts) implements it; an IndexedDB adapter for the browser implements the same, and both run
// profile-storage.contract.ts. Writes that belong together run inside `exclusive`.
import type { BlobId, ConversationId, ConversationKind, DeviceId, MessageId, UserId } from '@sealpost/protocol';

/** A contact's new account key while it waits out the contest period (see trust.ts). */
export interface KeyContest {
  user: UserId;
  accountKey: Uint8Array;
  /** When this device first saw the new key in the log. */
  firstSeen: number;
  /** The log version that retired the old key (the reset). */
  retiredAt: number;
  /** The user compared the new safety number: the key is used at once. */
  verified: boolean;
  /** Why the change was refused (the owner's devices objected), or null. */
  refused: string | null;
}

/** A message held while a recipient's key change is contested; `request` is what to send, as JSON. */
export interface HeldSend {
  id: string;
  users: UserId[];
  request: string;
  createdAt: number;
  discarded: string | null;
}

/** A queue item that was skipped because this device could not read it. */
export interface UnreadableRecord {
  seq: number | undefined;
  conversation: ConversationId | undefined;
  kind: string | undefined;
  fromUser: UserId | undefined;
  reason: string;
  at: number;
}

export interface ConversationRow {
  id: ConversationId;
  kind: ConversationKind;
  status: 'active' | 'removed';
  epoch: number;
  members: UserId[];
  /** 'parts': the stored state is the per-epoch base and the secret tree is in secret_nodes; 'full': the whole state. */
  stateFormat: 'full' | 'parts';
  /** A fresh random tag on every save; a process trusts its cached decoded state only while the tag matches. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface MessageRow {
  conversation: ConversationId;
  id: MessageId;
  senderUser: UserId;
  senderDevice: DeviceId;
  sentAt: number;
  receivedAt: number;
  direction: 'in' | 'out';
  content: Record<string, unknown>;
  /** 'text' (chat) or 'mail'. */
  kind?: 'text' | 'mail';
  /** Mail read state; chat messages are always read. */
  read?: boolean;
}

export interface OutboxRow {
  seq: number;
  conversation: ConversationId;
  id: MessageId;
  epoch: number;
  payload: Uint8Array;
  plaintext: Uint8Array;
  blobs: BlobId[];
}

export interface PendingCommitRow {
  conversation: ConversationId;
  id: MessageId;
  epoch: number;
  commit: Uint8Array;
  welcome: Uint8Array | undefined;
  adds: DeviceId[];
  removes: DeviceId[];
  newState: Uint8Array;
  newMembers: UserId[];
}

export interface ProfileStorage {
  /** Where the store lives (a folder for SQLite, a database name in a browser). */
  readonly dir: string;
  /** Whether it is encrypted at rest under a passphrase. */
  readonly encrypted: boolean;
  /** Close the store and delete everything in it (a wipe). */
  erase(): void;
  /**
   * Set or change the passphrase (the whole file is re-encrypted under the new key; with `undefined`, decrypted).
   * Needs the store to itself: another process using the profile makes it fail with PROFILE_LOCKED.
   */
  changePassphrase(next: string | undefined): void;
  close(): void;
  /**
   * Run `fn` holding the profile's write lock (SQLite BEGIN IMMEDIATE): other processes using the same profile wait.
   * The in-process caller (SealpostClient) serialises its own operations, so there is no nesting across awaits.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  getMeta(key: string): Uint8Array | undefined;
  getMetaText(key: string): string | undefined;
  setMeta(key: string, value: Uint8Array | string): void;
  /** Whether the queue item with this seq was processed (its effects are stored), whether or not it was acked. */
  wasProcessed(seq: number): boolean;
  /** Record, in the caller's transaction, that the item with this seq was processed. */
  markProcessed(seq: number): void;
  /**
   * Forget processed seqs that are no longer in the server's queue (`queued`: every seq a complete fetch just
   * returned): they were acked and deleted there, and seqs are never reused, so they cannot come again.
   */
  forgetProcessedExcept(queued: Set<number>): void;
  processedCount(): number;
  addKeyPackage(ref: string, pub: Uint8Array, priv: Uint8Array, lastResort: boolean): void;
  getKeyPackage(ref: string): { publicBytes: Uint8Array; privateBytes: Uint8Array; lastResort: boolean } | undefined;
  deleteKeyPackage(ref: string): void;
  secretNodes(conversation: ConversationId): Uint8Array[];
  /** Replace the whole secret tree of a conversation. */
  putSecretNodes(conversation: ConversationId, nodes: Uint8Array[]): void;
  /** Overwrite some secret-tree nodes and set a new version tag, in the caller's transaction. */
  updateSecretNodes(conversation: ConversationId, changed: { index: number; bytes: Uint8Array }[], now: number): number;
  getConversation(id: ConversationId): ConversationRow | undefined;
  listConversations(): ConversationRow[];
  conversationState(id: ConversationId): Uint8Array;
  /** Insert or replace a conversation with its state; returns the new version tag. */
  putConversation(c: Omit<ConversationRow, 'createdAt' | 'version'> & { state: Uint8Array; createdAt?: number }): number;
  /**
   * Stores a message; `seen: false` marks a received one for the next sync/watch output.
   * Returns false if a message with this id is already stored in the conversation (a retry or a replay).
   */
  addMessage(m: MessageRow, seen?: boolean): boolean;
  /** Received messages not shown yet, in arrival order; marks them shown. */
  takeUnseen(): MessageRow[];
  listMail(): MessageRow[];
  findMail(id: MessageId): MessageRow | undefined;
  markRead(conversation: ConversationId, id: MessageId): void;
  getMessage(conversation: ConversationId, id: MessageId): MessageRow | undefined;
  /** Deletes a message; returns the blob ids no other stored message refers to any more. */
  deleteMessage(conversation: ConversationId, id: MessageId): string[];
  findAttachment(id: string): Record<string, unknown> | undefined;
  findUpload(path: string, size: number, mtime: number): { blob: BlobId; key: Uint8Array; chunkSize: number } | undefined;
  putUpload(path: string, size: number, mtime: number, blob: BlobId, key: Uint8Array, chunkSize: number): void;
  deleteUpload(blob: BlobId): void;
  listMessages(conversation?: ConversationId, limit?: number): MessageRow[];
  addOutbox(o: Omit<OutboxRow, 'seq'>): void;
  listOutbox(): OutboxRow[];
  updateOutbox(seq: number, epoch: number, payload: Uint8Array): void;
  deleteOutbox(seq: number): void;
  putPendingCommit(p: PendingCommitRow): void;
  listPendingCommits(): PendingCommitRow[];
  deletePendingCommit(conversation: ConversationId): void;
  getKnownUser(user: UserId): { accountKey: Uint8Array; version: number } | undefined;
  putKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void;
  /** The user's account key changed (an account reset): pin the new key and remember the change. */
  replaceKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void;
  keyChanges(user?: UserId): { user: UserId; oldKey: Uint8Array; newKey: Uint8Array; at: number }[];
  /** When this device last committed its own fresh keys in the conversation (undefined: never since joining). */
  keyUpdatedAt(conversation: ConversationId): number | undefined;
  setKeyUpdatedAt(conversation: ConversationId, at: number): void;
  /** Keeps the newest 1,000: a sender who floods a device with garbage must not grow its store without bound. */
  recordUnreadable(r: UnreadableRecord): void;
  listUnreadable(): UnreadableRecord[];
  /** Account-key changes of contacts not acknowledged since (by verifying the new safety number). */
  unacknowledgedKeyChanges(): { user: UserId; at: number }[];
  keyChangesAcknowledgedAt(user: UserId): number | undefined;
  acknowledgeKeyChanges(user: UserId, now: number): void;
  getKeyContest(user: UserId): KeyContest | undefined;
  listKeyContests(): KeyContest[];
  /** Start a contest for this new key (a different key than the one contested before starts afresh). */
  startKeyContest(user: UserId, accountKey: Uint8Array, retiredAt: number, now: number): KeyContest;
  verifyKeyContest(user: UserId): void;
  refuseKeyContest(user: UserId, reason: string): void;
  endKeyContest(user: UserId): void;
  addHeldSend(h: Omit<HeldSend, 'discarded'>): void;
  /** Messages still held, oldest first. */
  listHeldSends(): HeldSend[];
  deleteHeldSend(id: string): void;
  discardHeldSend(id: string, reason: string, now: number): void;
  /** Discarded messages not yet reported to the user; each is reported once, then forgotten. */
  takeDiscardedSends(): HeldSend[];
  addPendingRemoval(conversation: ConversationId, device: DeviceId): void;
  listPendingRemovals(): { conversation: ConversationId; device: DeviceId }[];
  deletePendingRemoval(conversation: ConversationId, device: DeviceId): void;
  /** Retention: deletes messages sent before `before`; returns the blob ids no remaining message refers to. */
  deleteMessagesBefore(before: number): string[];
  /** Recent messages, newest last, for bringing history to a newly linked device. */
  recentMessages(limit: number): MessageRow[];
}
