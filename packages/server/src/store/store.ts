// ServerStore: every durable thing the server keeps, behind one interface shaped for both SQLite and PostgreSQL
// (all methods async; every multi-step change is one transaction inside the adapter).
import type { BlobId, ConversationId, DeviceId, MessageId, QueueItem, QueueKind, UserId } from '@sealpost/protocol';

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

/** Who must be told about a newly stored message: queue items per recipient device. */
export type Delivery = { device: DeviceId; item: QueueItem }[];

export type AppendResult =
  | { kind: 'ok'; epoch: number; deliveries: Delivery; duplicate: boolean }
  | { kind: 'epoch-conflict'; epoch: number }
  | { kind: 'not-found' }
  | { kind: 'not-member' }
  | { kind: 'invalid'; message: string }
  | { kind: 'blob-not-found'; blob: BlobId };

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

  /** Adds KeyPackages; returns the new count, or undefined when it would exceed `max`. */
  addKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined>;
  countKeyPackages(device: DeviceId): Promise<number>;
  /** One KeyPackage for every device of every user (one-time ones first; the last-resort one is not deleted). */
  claimKeyPackages(users: UserId[], exclude: DeviceId[]): Promise<ClaimedKeyPackage[]>;

  putChallenge(device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void>;
  /** True once for a challenge that was issued to this device and has not expired. */
  takeChallenge(device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean>;
  createSession(tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void>;
  getSession(tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId } | undefined>;

  createConversation(id: ConversationId, creator: DeviceId, now: number): Promise<boolean>;
  getConversation(id: ConversationId): Promise<ConversationRecord | undefined>;

  /** Stores an application message in every other member's queue, if it is for the current epoch. */
  appendMessage(input: AppendInput): Promise<AppendResult>;
  /** Accepts the first commit for the current epoch (idempotent by id), advances the epoch, queues commit and Welcome. */
  appendCommit(input: CommitInput): Promise<AppendResult>;

  fetchQueue(device: DeviceId, after: number, limit: number): Promise<QueueItem[]>;

  /** Registers an upload and grants it to its uploader; 'quota' if the user's blobs would exceed `quotaBytes`. */
  createBlob(blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'>;
  getBlob(id: BlobId): Promise<BlobRecord | undefined>;
  setBlobReceived(id: BlobId, received: number, complete: boolean, now: number): Promise<void>;
  hasBlobGrant(id: BlobId, device: DeviceId): Promise<boolean>;
  /** Releases a device's grant; returns true when it was the last one and the blob record is gone. */
  releaseBlobGrant(id: BlobId, device: DeviceId): Promise<boolean>;
  /** Bytes of the user's live blobs (complete or uploading). */
  blobBytesOf(user: UserId): Promise<number>;
  /** Deletes uploads never completed since `before`; returns their ids so their files can go too. */
  deleteStaleUploads(before: number): Promise<BlobId[]>;

  /** Queue items not yet acknowledged, over all devices (for metrics). */
  queueDepth(): Promise<number>;

  /** Which server node holds a connection of which device (for push across nodes). */
  addPresence(device: DeviceId, node: string, now: number): Promise<void>;
  removePresence(device: DeviceId, node: string): Promise<void>;
  presenceOf(devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]>;
  /** Forget every connection of a node (it is shutting down). */
  clearPresence(node: string): Promise<void>;
  /** Deletes acknowledged items of this device's queue; returns how many were deleted. */
  ack(device: DeviceId, seqs: number[]): Promise<number>;
}

export type { QueueKind };
