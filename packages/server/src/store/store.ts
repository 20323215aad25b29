// ServerStore: every durable thing the server keeps, behind one interface shaped for both SQLite and PostgreSQL
// (all methods async; every multi-step change is one transaction inside the adapter).
import type { AuditEntry, AuditFields, BlobId, ConversationId, DeviceId, MessageId, QueueItem, QueueKind, SuiteName, UserId } from '@sealpost/protocol';

export interface UserRecord {
  user: UserId;
  name: string | undefined;
  status: 'active' | 'disabled';
  createdAt: number;
  deviceCount: number;
}

export interface DeviceRecord {
  id: DeviceId;
  user: UserId;
  name: string | undefined;
  signatureKey: Uint8Array;
  createdAt: number;
  lastSeenAt: number | undefined;
  /** Set once the device was revoked (by its user, an admin, a wipe or an account reset). */
  revokedAt: number | undefined;
}

export interface StoredDeviceList {
  version: number;
  accountKey: Uint8Array;
  body: Uint8Array;
  signature: Uint8Array;
}

export interface NewKeyPackage {
  ref: string;
  data: Uint8Array;
  /** Its MLS suite (read from the KeyPackage itself on upload); classic when not said. */
  suite?: SuiteName;
}

export type EnrollVerdict = 'ok' | 'invalid' | 'expired' | 'exhausted' | 'user-disabled' | 'device-exists';

export interface EnrollInput {
  user: UserId;
  codeHash: Uint8Array;
  now: number;
  maxAttempts: number;
  device: { id: DeviceId; name: string | undefined; signatureKey: Uint8Array };
  deviceList: StoredDeviceList;
  keyPackages: NewKeyPackage[];
  lastResort: NewKeyPackage;
}

export interface ClaimedKeyPackage {
  user: UserId;
  device: DeviceId;
  data: Uint8Array | undefined;
}

/** One queue item's metadata (never its payload). */
export interface QueueEntry {
  seq: number;
  conversation: ConversationId;
  kind: QueueKind;
  fromUser: UserId;
  at: number;
  /** Payload bytes. */
  bytes: number;
}

/** Both adapters select seq, conversation, kind, sender_user, created_at and the payload's length as bytes. */

export interface ConversationRecord {
  id: ConversationId;
  epoch: number;
  members: DeviceId[];
}

export interface AppendInput {
  conversation: ConversationId;
  sender: { device: DeviceId; user: UserId };
  epoch: number;
  id: MessageId;
  payload: Uint8Array;
  now: number;
  /** Blobs the message refers to: the sender must hold a grant; every recipient device gets one. */
  blobs?: BlobId[];
}

export interface BlobRecord {
  id: BlobId;
  ownerUser: UserId;
  ownerDevice: DeviceId;
  /** Declared ciphertext size. */
  size: number;
  /** Bytes durably stored so far. */
  received: number;
  complete: boolean;
  createdAt: number;
}

export interface CommitInput extends AppendInput {
  welcome: Uint8Array | undefined;
  add: DeviceId[];
  remove: DeviceId[];
}

/** A pending request of a new device to join an account (device-link.ts). */
export interface LinkRecord {
  codeHash: Uint8Array;
  user: UserId;
  device: DeviceId;
  name: string | undefined;
  signatureKey: Uint8Array;
  hpkeKey: Uint8Array;
  keyPackages: NewKeyPackage[];
  lastResort: NewKeyPackage;
  createdAt: number;
  expiresAt: number;
  /** The bundle sealed to the new device by the approving device; set on approval. */
  sealed: Uint8Array | undefined;
}

export type LinkApproveVerdict = 'ok' | 'not-found' | 'expired' | 'too-many-devices' | 'list-changed' | 'device-exists';

/** Revoking a device: the organisation-signed notice its conversations' members receive, so one of them commits the removal. */
export interface Revocation {
  device: DeviceId;
  notice: Uint8Array;
  /** Message id for the notices. */
  noticeId: MessageId;
}

/** What a named admin token may do (admin routes by area; auth/admin-token.ts maps a route to one). */
export const adminScopes = ['users', 'devices', 'policy', 'audit', 'tokens', 'scim'] as const;
export type AdminScope = (typeof adminScopes)[number];

export interface AdminTokenRecord {
  name: string;
  /** Every scope for a token made before scopes existed. */
  scopes: AdminScope[];
  createdAt: number;
  revokedAt: number | undefined;
}

export interface WipeRecord {
  device: DeviceId;
  command: Uint8Array;
  signature: Uint8Array;
  issuedAt: number;
  confirmedAt: number | undefined;
}

/** What the server holds about one user, for a lawful request: metadata and sizes, never content (it has none). */
export interface UserLookup {
  conversations: { id: ConversationId; epoch: number; memberDevices: number; storedMessages: number; storedBytes: number }[];
  queuedItems: number;
  queuedBytes: number;
  blobs: number;
  blobBytes: number;
  activationCode: { expiresAt: number; usedAt: number | undefined; attempts: number } | undefined;
  deviceListVersion: number | undefined;
}

/** A user whose account record must be published in the next key-transparency epoch. */
export interface KtPending {
  user: UserId;
  seq: number;
  /** The current device list; undefined after an account reset (the record is published as retired). */
  list: { accountKey: Uint8Array; version: number; body: Uint8Array } | undefined;
  /** The user's latest legal-hold statement (a hold, or its release), if they were ever held. */
  hold?: { body: Uint8Array; signature: Uint8Array };
}

/** A SCIM resource as the identity provider sent it (scim/): its attributes as JSON text. */
export interface ScimRecord {
  type: 'User' | 'Group' | 'DeletedUser';
  id: string;
  externalId: string | null;
  data: string;
  createdAt: number;
  updatedAt: number;
  version: number;
}

/** One organisation-signed statement of a legal hold: made (released false) or released. */
export interface HoldStatement {
  holdId: string;
  user: UserId;
  released: boolean;
  body: Uint8Array;
  signature: Uint8Array;
  at: number;
}

export interface KtEpochRecord {
  epoch: number;
  timestamp: number;
  prefixRoot: Uint8Array;
  /** The log tree root after this epoch (the signed tree head's root). */
  logRoot: Uint8Array;
  /** The tree head signature over (epoch + 1, logRoot, timestamp). */
  signature: Uint8Array;
}

export interface KtNextIndex {
  label: string;
  version: number;
  index: Uint8Array;
}

export interface KtUpdateRecord {
  label: string;
  version: number;
  value: Uint8Array;
  opening: Uint8Array;
  /** The prefix-tree index: the first 32 bytes of the VRF output. */
  index: Uint8Array;
}

/** Who must be told about a newly stored message: queue items per recipient device. */
export type Delivery = { device: DeviceId; item: QueueItem }[];

export type AppendResult =
  | { kind: 'ok'; epoch: number; deliveries: Delivery; duplicate: boolean }
  | { kind: 'epoch-conflict'; epoch: number }
  | { kind: 'not-found' }
  | { kind: 'not-member' }
  | { kind: 'invalid'; message: string }
  | { kind: 'blob-not-found'; blob: BlobId };

/** Outside mail the SMTP gateway accepted for one user, sealed to their intake key (mail/intake.ts). */
export interface InboundInput {
  user: UserId;
  /** Keyed hash of the raw message and recipient: a sender's retry of the same message is stored once. */
  id: MessageId;
  payload: Uint8Array;
  now: number;
  /** A large message's sealed bytes, already durable in the blob store: every device of the user gets a grant. */
  blob?: { id: BlobId; size: number };
}

export type InboundResult = { kind: 'ok'; deliveries: Delivery } | { kind: 'duplicate' } | { kind: 'no-devices' };

/** One message waiting in the outbound queue. `payload` is sealed at rest with a server key (mail/outbound-queue.ts). */
export interface OutboundRecord {
  id: string;
  user: UserId;
  from: string;
  /** Recipients not yet delivered to (or bounced). */
  to: string[];
  payload: Uint8Array;
  size: number;
  encrypted: boolean;
  queuedAt: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | undefined;
}

export interface ServerStore {
  close(): Promise<void>;
  /** Whether the store answers (for /readyz). */
  ping(): Promise<boolean>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /** Creates the user with its first activation code; false if the user exists. */
  createUser(user: { user: UserId; name: string | undefined; now: number }, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<boolean>;
  getUser(user: UserId): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;

  /** Checks the activation code (counting a wrong one) and, when it is right, registers the first device. */
  enroll(input: EnrollInput): Promise<EnrollVerdict>;

  getDevice(device: DeviceId): Promise<DeviceRecord | undefined>;
  listDevices(user: UserId): Promise<DeviceRecord[]>;
  touchDevice(device: DeviceId, now: number): Promise<void>;
  getDeviceList(user: UserId): Promise<StoredDeviceList | undefined>;

  /** The hash of the user's unused activation code, if any (a cheap check before enroll verifies signatures). */
  activationCodeHash(user: UserId): Promise<Uint8Array | undefined>;
  /** One more wrong attempt against the user's activation code. */
  countWrongActivation(user: UserId): Promise<void>;
  /**
   * A new activation code for a user who has not enrolled yet (theirs expired, was used up by wrong attempts, or
   * lost): 'enrolled' when the user has an account key already (they link devices, or are reset), 'missing' when
   * there is no such user.
   */
  reissueActivation(user: UserId, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<'ok' | 'enrolled' | 'missing'>;

  /** Adds KeyPackages; returns the new count, or undefined when it would exceed `max`. */
  /** `max` bounds the one-time KeyPackages of all suites together; a last-resort one replaces that of its own suite. */
  addKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined>;
  /** One-time KeyPackages the device has left, of one suite (all suites when not given). */
  countKeyPackages(device: DeviceId, suite?: SuiteName): Promise<number>;
  /**
   * One KeyPackage for every device of every user (one-time ones first; the last-resort one is not deleted), and
   * only the last-resort one for the devices in `lastResortOnly`.
   */
  claimKeyPackages(users: UserId[], exclude: DeviceId[], lastResortOnly?: ReadonlySet<DeviceId>, suite?: SuiteName): Promise<ClaimedKeyPackage[]>;

  putChallenge(device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void>;
  /** True once for a challenge that was issued to this device and has not expired. */
  takeChallenge(device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean>;
  createSession(tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void>;
  getSession(tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId; expiresAt: number } | undefined>;

  createConversation(id: ConversationId, creator: DeviceId, now: number, suite?: SuiteName): Promise<boolean>;
  /** How many conversations were created with each suite (`unknown`: before suites were recorded — all classic). */
  countConversationsBySuite(): Promise<Record<SuiteName | 'unknown', number>>;
  getConversation(id: ConversationId): Promise<ConversationRecord | undefined>;

  /** Stores an application message in every other member's queue, if it is for the current epoch. */
  appendMessage(input: AppendInput): Promise<AppendResult>;
  /** Accepts the first commit for the current epoch (idempotent by id), advances the epoch, queues commit and Welcome. */
  appendCommit(input: CommitInput): Promise<AppendResult>;

  /** Queue items after `after` in seq order, at most `limit`, and none above `through` when given. */
  fetchQueue(device: DeviceId, after: number, limit: number, through?: number): Promise<QueueItem[]>;
  /** What a device's queue holds after `after`, without payloads: sizes for batching, and the admin's view. */
  listQueue(device: DeviceId, after: number, limit: number): Promise<QueueEntry[]>;

  /** Registers an upload and grants it to its uploader; 'quota' if the user's blobs (as blobBytesOf counts them) would exceed `quotaBytes`. */
  createBlob(blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'>;
  getBlob(id: BlobId): Promise<BlobRecord | undefined>;
  setBlobReceived(id: BlobId, received: number, complete: boolean, now: number): Promise<void>;
  hasBlobGrant(id: BlobId, device: DeviceId): Promise<boolean>;
  /** Releases a device's grant; returns true when it was the last one and the blob record is gone. */
  releaseBlobGrant(id: BlobId, device: DeviceId): Promise<boolean>;
  /**
   * Bytes of the user's live blobs (complete or uploading) that the uploading device still holds: once it releases
   * one, the blob no longer counts against the user's quota, though recipients that never release theirs keep it.
   */
  blobBytesOf(user: UserId): Promise<number>;
  /** Deletes uploads never completed since `before`; returns their ids so their files can go too. */
  deleteStaleUploads(before: number): Promise<BlobId[]>;

  /** Queue items not yet acknowledged, over all devices (for metrics). */
  queueDepth(): Promise<number>;
  /**
   * Queue seqs from now on are above `min` (after a restore from a backup: devices remember the seqs they processed,
   * and a seq issued again would be taken for one of those).
   */
  advanceQueueSeq(min: number): Promise<void>;
  /** Blobs stored (complete or uploading) and their declared bytes, over all users (for metrics). */
  blobTotals(): Promise<{ count: number; bytes: number }>;

  /** Which server node holds a connection of which device (for push across nodes). */
  addPresence(device: DeviceId, node: string, now: number): Promise<void>;
  removePresence(device: DeviceId, node: string): Promise<void>;
  presenceOf(devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]>;
  /** Forget every connection of a node (it is shutting down). */
  clearPresence(node: string): Promise<void>;
  /** Deletes acknowledged items of this device's queue; returns how many were deleted. */
  ack(device: DeviceId, seqs: number[]): Promise<number>;

  // ---- devices and administration (see docs/devices-and-admin.md) -------------------------------------------

  setUserStatus(user: UserId, status: UserRecord['status']): Promise<boolean>;
  /** Earlier account-signed device lists of the user (newest first), for checking commits made under them. */
  deviceListHistory(user: UserId, limit: number): Promise<{ body: Uint8Array; signature: Uint8Array }[]>;
  /**
   * Account reset for a user who lost every device: revokes all devices (removal notices to their conversations),
   * forgets the device list and its account key, and issues a new activation code.
   */
  resetUser(user: UserId, revocations: Revocation[], activation: { codeHash: Uint8Array; expiresAt: number }, now: number): Promise<Delivery>;
  /**
   * Revokes devices: they lose sessions, KeyPackages, queues and conversation memberships, and every remaining
   * member of their conversations gets the removal notice. With `deviceList`, the user's new signed list replaces
   * the stored one if the stored version is still `deviceList.version - 1` (else 'list-changed').
   */
  revokeDevices(user: UserId, revocations: Revocation[], now: number, deviceList?: StoredDeviceList): Promise<Delivery | 'list-changed'>;

  /** Stores a link request; false when the user already has `maxPending` unexpired requests. */
  createLink(link: LinkRecord, maxPending: number): Promise<boolean>;
  getLink(codeHash: Uint8Array): Promise<LinkRecord | undefined>;
  /** Registers the linked device under the new signed device list and keeps the sealed bundle for it. */
  approveLink(input: { codeHash: Uint8Array; deviceList: StoredDeviceList; sealed: Uint8Array; maxDevices: number; now: number }): Promise<LinkApproveVerdict>;
  deleteExpiredLinks(now: number): Promise<void>;

  /**
   * Stores a legal-hold statement and queues the user's account record for the key-transparency log, together.
   * False when this hold already has a statement of this kind (made twice, released twice).
   */
  putHoldStatement(s: HoldStatement): Promise<boolean>;
  /** Legal-hold statements, oldest first: one user's, or everyone's. */
  holdStatements(user?: UserId): Promise<HoldStatement[]>;
  /**
   * Queues an organisation notice (a group's membership, admin/group-membership.ts) to every active device of these
   * users, in one transaction; the deliveries to push.
   */
  appendNotice(input: { conversation: ConversationId; kind: 'group'; id: MessageId; payload: Uint8Array; users: UserId[]; sender: { device: DeviceId; user: UserId }; now: number }): Promise<Delivery>;
  /**
   * Queues an organisation notice about `user` (a legal hold, admin/legal-holds.ts) in every conversation one of the
   * user's devices is in, to every member device of that conversation, in one transaction; the deliveries to push.
   */
  appendHoldNotices(input: { user: UserId; id: MessageId; payload: Uint8Array; sender: { device: DeviceId; user: UserId }; now: number }): Promise<Delivery>;
  scimGet(type: ScimRecord['type'], id: string): Promise<ScimRecord | undefined>;
  /** Every resource of a type, in id order. */
  scimList(type: ScimRecord['type']): Promise<ScimRecord[]>;
  /** Insert or replace. */
  scimPut(r: ScimRecord): Promise<void>;
  scimDelete(type: ScimRecord['type'], id: string): Promise<void>;
  putWipe(wipe: WipeRecord): Promise<void>;
  getWipe(device: DeviceId): Promise<WipeRecord | undefined>;
  confirmWipe(device: DeviceId, now: number): Promise<void>;

  /** Named admin credentials (stored as hashes); false if the name is taken. */
  addAdminToken(name: string, tokenHash: Uint8Array, now: number, scopes: AdminScope[]): Promise<boolean>;
  /** The name of the unrevoked admin credential with this hash. */
  findAdminToken(tokenHash: Uint8Array): Promise<{ name: string; scopes: AdminScope[] } | undefined>;
  listAdminTokens(): Promise<AdminTokenRecord[]>;
  revokeAdminToken(name: string, now: number): Promise<boolean>;

  /** Appends to the hash-linked audit log (the hash is computed inside the transaction). */
  appendAudit(entry: Omit<AuditFields, 'seq'>): Promise<AuditEntry>;
  listAudit(afterSeq: number, limit: number): Promise<AuditEntry[]>;

  lookupUser(user: UserId): Promise<UserLookup>;
  /** Retention: deletes stored messages (and their queue items) and complete blobs created before `before`. */
  deleteOlderThan(before: number): Promise<{ messages: number; blobs: BlobId[] }>;

  // ---- key transparency (server/src/kt/) ---------------------------------------------------------------------
  /** Users waiting for an epoch (at most `limit`), or just `user` if it waits. */
  ktPending(limit: number, user?: UserId): Promise<KtPending[]>;
  /** Stores an epoch with its updates and clears the pending rows it published; false if the epoch exists (another node was first). */
  ktPublish(epoch: KtEpochRecord, updates: KtUpdateRecord[], done: { user: UserId; seq: number }[]): Promise<boolean>;
  ktEpochs(afterEpoch: number, limit: number): Promise<(KtEpochRecord & { updates: KtUpdateRecord[] })[]>;
  /** The published versions of one label from `fromVersion` on, in order (at most `limit`): what monitoring proves. */
  ktVersions(label: string, fromVersion: number, limit: number): Promise<KtUpdateRecord[]>;
  /** Remembers the VRF index of each label's next version (replacing an older one). */
  ktPutNextIndexes(rows: KtNextIndex[]): Promise<void>;
  /** The remembered next-version indexes of these labels (those it has). */
  ktNextIndexes(labels: string[]): Promise<KtNextIndex[]>;

  // ---- outside mail (mail/) ----
  /** Queues sealed inbound mail to each active device of the user (and grants its blob), in one transaction. */
  appendInbound(input: InboundInput): Promise<InboundResult>;
  /** Adds to the outbound queue; false when this user already queued `id` (a retry). */
  queueOutbound(record: OutboundRecord): Promise<boolean>;
  /**
   * Takes up to `limit` messages due at `now` for one delivery attempt: their next attempt moves to `leaseUntil`, so
   * another node (or this one after a crash) tries them only when the lease has passed.
   */
  claimOutbound(now: number, leaseUntil: number, limit: number): Promise<OutboundRecord[]>;
  /** After an attempt: the recipients still to try (none: the message leaves the queue), when, and why. */
  outboundAttempted(id: string, rest: string[], nextAttemptAt: number, lastError: string | undefined): Promise<void>;
  listOutbound(limit: number): Promise<OutboundRecord[]>;
  /** Recipients this user queued since `since` (for the per-day limit). */
  outboundCountSince(user: UserId, since: number): Promise<number>;
}

export type { QueueKind };
