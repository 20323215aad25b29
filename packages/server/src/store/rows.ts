// Rows as both store adapters read them back (SQLite and PostgreSQL name their columns alike), turned into
// records in one place.
import type { AuditEntry, BlobId, ConversationId, DeviceId, QueueItem, QueueKind, UserId } from '@sealpost/protocol';
import { decodeLinkKeyPackages } from './link-key-packages.js';
import { adminScopes, type AdminScope, type AppendInput, type BlobRecord, type DeviceRecord, type HoldStatement, type ScimRecord, type UserLookup, type KtEpochRecord, type KtPending, type KtUpdateRecord, type LinkRecord, type OutboundRecord, type QueueEntry, type UserRecord } from './store.js';

export type Row = Record<string, unknown>;

/** A bytes column (a Buffer from either driver) as a plain Uint8Array. */
export const u8 = (b: unknown): Uint8Array => new Uint8Array(b as Buffer);

export function userFromRow(r: Row): UserRecord {
  return {
    user: r.user as UserId,
    name: (r.name as string | null) ?? undefined,
    status: r.status as UserRecord['status'],
    createdAt: r.created_at as number,
    deviceCount: r.device_count as number,
  };
}

export function deviceFromRow(r: Row): DeviceRecord {
  return {
    id: r.id as DeviceId,
    user: r.user as UserId,
    name: (r.name as string | null) ?? undefined,
    signatureKey: u8(r.signature_key),
    createdAt: r.created_at as number,
    lastSeenAt: (r.last_seen_at as number | null) ?? undefined,
    revokedAt: (r.revoked_at as number | null) ?? undefined,
  };
}

export function queueItemFromRow(r: Row): QueueItem {
  return {
    seq: r.seq as number,
    c: r.conversation as ConversationId,
    k: r.kind as QueueItem['k'],
    e: r.epoch as number,
    id: r.msg_id as QueueItem['id'],
    from: r.sender_device as DeviceId,
    fromUser: r.sender_user as UserId,
    at: r.created_at as number,
    p: u8(r.payload),
  };
}

export function queueEntryFromRow(r: Row): QueueEntry {
  return {
    seq: Number(r.seq),
    conversation: r.conversation as ConversationId,
    kind: r.kind as QueueKind,
    fromUser: r.sender_user as UserId,
    at: Number(r.created_at),
    bytes: Number(r.bytes),
  };
}

export function ktUpdateFromRow(u: Row): KtUpdateRecord {
  return { label: u.label as string, version: u.version as number, value: u8(u.value), opening: u8(u.opening), index: u8(u.vrf_index) };
}

export function linkFromRow(r: Row): LinkRecord {
  return {
    codeHash: u8(r.code_hash),
    user: r.user as UserId,
    device: r.device as DeviceId,
    name: (r.name as string | null) ?? undefined,
    signatureKey: u8(r.signature_key),
    hpkeKey: u8(r.hpke_key),
    ...decodeLinkKeyPackages(u8(r.key_packages)),
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    sealed: r.sealed === null ? undefined : u8(r.sealed),
  };
}

export function auditFromRow(r: Row): AuditEntry {
  return {
    seq: r.seq as number,
    at: r.at as number,
    actor: r.actor as string,
    action: r.action as string,
    target: r.target as string,
    details: JSON.parse(r.details as string) as AuditEntry['details'],
    prevHash: u8(r.prev_hash),
    hash: u8(r.hash),
  };
}

/** The queue item a stored message becomes for one recipient (what is pushed, and what a fetch reads back). */
export function queueItemOf(input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, seq: number): QueueItem {
  return { seq, c: input.conversation, k: kind, e: input.epoch, id: input.id, from: input.sender.device, fromUser: input.sender.user, at: input.now, p: payload };
}

export function ktPendingFromRow(r: Row): KtPending {
  return {
    user: r.user as UserId,
    seq: r.seq as number,
    list: r.body === null ? undefined : { accountKey: u8(r.account_key), version: r.version as number, body: u8(r.body) },
    ...(r.hold_body !== null && r.hold_body !== undefined ? { hold: { body: u8(r.hold_body), signature: u8(r.hold_signature) } } : {}),
  };
}

export function holdFromRow(r: Row): HoldStatement {
  return { holdId: r.hold_id as string, user: r.user as UserId, released: Boolean(r.released), body: u8(r.body), signature: u8(r.signature), at: Number(r.at) };
}

export function ktEpochFromRow(e: Row): KtEpochRecord {
  return { epoch: e.epoch as number, timestamp: e.timestamp as number, prefixRoot: u8(e.prefix_root), logRoot: u8(e.log_root), signature: u8(e.signature) };
}

/** SQLite keeps booleans as 0/1, PostgreSQL as booleans. */
const bool = (v: unknown): boolean => v === true || v === 1;

export function blobFromRow(r: Row): BlobRecord {
  return {
    id: r.id as BlobId,
    ownerUser: r.owner_user as UserId,
    ownerDevice: r.owner_device as DeviceId,
    size: r.size as number,
    received: r.received as number,
    complete: bool(r.complete),
    createdAt: r.created_at as number,
  };
}

/** What a lawful-request lookup returns, from the rows both adapters read for it (counts and sizes, never content). */
export function userLookupFromRows(convs: Row[], queued: Row, blobs: Row, code: Row | undefined, list: Row | undefined): UserLookup {
  return {
    conversations: convs.map((c) => ({
      id: c.id as ConversationId,
      epoch: c.epoch as number,
      memberDevices: c.member_devices as number,
      storedMessages: c.stored_messages as number,
      storedBytes: c.stored_bytes as number,
    })),
    queuedItems: queued.n as number,
    queuedBytes: queued.bytes as number,
    blobs: blobs.n as number,
    blobBytes: blobs.bytes as number,
    activationCode: code ? { expiresAt: code.expires_at as number, usedAt: (code.used_at as number | null) ?? undefined, attempts: code.attempts as number } : undefined,
    deviceListVersion: (list?.version as number | undefined) ?? undefined,
  };
}

/** An admin token's scopes as stored (comma-separated); NULL, for a token made before scopes, is every scope. */
export function scopesOf(v: unknown): AdminScope[] {
  if (typeof v !== 'string') return [...adminScopes];
  return v.split(',').filter((x): x is AdminScope => (adminScopes as readonly string[]).includes(x));
}

export function outboundFromRow(r: Row): OutboundRecord {
  return {
    id: r.id as string,
    user: r.user as UserId,
    from: r.sender as string,
    to: JSON.parse(r.recipients as string) as string[],
    payload: u8(r.payload),
    size: Number(r.size),
    encrypted: Boolean(r.encrypted),
    queuedAt: Number(r.queued_at),
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    lastError: (r.last_error as string | null) ?? undefined,
  };
}

export function scimFromRow(r: Row): ScimRecord {
  return {
    type: r.type as ScimRecord['type'],
    id: r.id as string,
    externalId: (r.external_id as string | null) ?? null,
    data: r.data as string,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    version: Number(r.version),
  };
}
