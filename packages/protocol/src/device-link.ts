// Linking a new device to an account (design.md, Identity): the new device posts its public keys under a short
// code; a device the user already has looks the request up by that code, shows the new device's fingerprint,
// signs a device list that includes it, and seals the account key (and optionally recent history) to the new
// device's HPKE key. The server relays; it never holds the account key. The fingerprint, compared by the user (or
// carried in the QR payload), is what stops a server from swapping in its own keys.
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import { concatBytes, randomBytes, utf8 } from './bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from './codec.js';
import { SealpostError } from './errors.js';
import { zUserId, type UserId } from './ids.js';

// Crockford base32 without I, L, O, U.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A link code: 10 symbols (50 bits), shown as XXXXX-XXXXX. Valid for minutes and for one request only. */
export function newLinkCode(): string {
  let s = '';
  for (const b of randomBytes(10)) s += alphabet[b & 31];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

/** Normalises what a user typed (case, dashes, spaces); undefined if it cannot be a link code. */
export function parseLinkCode(text: string): string | undefined {
  const s = text.toUpperCase().replace(/[\s-]/g, '');
  if (s.length !== 10 || ![...s].every((c) => alphabet.includes(c))) return undefined;
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

/** 30 digits in six groups, over the new device's signature and HPKE keys. Both devices print it. */
export function linkFingerprint(signatureKey: Uint8Array, hpkeKey: Uint8Array): string {
  const h = sha256(concatBytes(utf8('Sealpost v1 device-fingerprint\0'), signatureKey, hpkeKey));
  const groups: string[] = [];
  for (let i = 0; i < 6; i++) {
    const n = ((h[i * 4]! << 24) | (h[i * 4 + 1]! << 16) | (h[i * 4 + 2]! << 8) | h[i * 4 + 3]!) >>> 0;
    groups.push(String(n % 100_000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/** What a QR code carries: enough for the approving device to check the fingerprint itself. */
export function linkQrPayload(p: { server: string; user: UserId; code: string; fingerprint: string }): string {
  const q = new URLSearchParams({ server: p.server, user: p.user, code: p.code, fp: p.fingerprint.replace(/ /g, '') });
  return `sealpost-link:v1?${q.toString()}`;
}

export interface HistoryItem {
  conversation: string;
  id: string;
  senderUser: string;
  senderDevice: string;
  sentAt: number;
  kind: 'text' | 'mail';
  /** The content as the approving device stores it (JSON text). */
  content: string;
}

/** Sealed to the new device: the account key pair and, if asked for, recent history. */
export interface LinkBundle {
  accountPublic: Uint8Array;
  accountPrivate: Uint8Array;
  history: HistoryItem[];
  /** The conversations the approving device adds the new one to right after approving (it waits for them). */
  conversations?: string[];
  /** The account's mail private keys, so the new device can open outside mail (the public halves are in the list). */
  mail?: MailPrivateKeys;
}

export interface MailPrivateKeys {
  /** The HPKE intake private key, in the ciphersuite provider's own encoding. */
  intakePrivate: Uint8Array;
  /** The OpenPGP private key, binary (unprotected: the bundle itself is sealed to the new device). */
  openpgpPrivate: Uint8Array;
}

export const MAX_LINK_CONVERSATIONS = 10_000;

export const MAX_LINK_BUNDLE_BYTES = 8 * 1024 * 1024;
export const MAX_LINK_HISTORY = 1000;

const zKey = z.instanceof(Uint8Array).refine((b) => b.length === 32, 'must be 32 bytes');
// The private key in the ciphersuite provider's own encoding (a raw seed, or PKCS#8 for node:crypto).
const zPrivateKey = z.instanceof(Uint8Array).refine((b) => b.length >= 32 && b.length <= 128, 'must be 32 to 128 bytes');
const zBundle = z.tuple([
  z.literal('sealpost-link-bundle-v1'),
  zKey,
  zPrivateKey,
  z
    .array(
      z.tuple([
        z.string().max(64),
        z.string().max(64),
        zUserId,
        z.string().max(64),
        z.number().int().min(0),
        z.enum(['text', 'mail']),
        z.string().max(1024 * 1024),
      ]),
    )
    .max(MAX_LINK_HISTORY),
  z.array(z.string().max(64)).max(MAX_LINK_CONVERSATIONS).nullable().optional(),
  z.tuple([zPrivateKey, z.instanceof(Uint8Array).refine((b) => b.length > 0 && b.length <= 16 * 1024, 'must be 1 to 16384 bytes')]).optional(),
]);

export function encodeLinkBundle(b: LinkBundle): Uint8Array {
  const out = encodeCbor([
    'sealpost-link-bundle-v1',
    b.accountPublic,
    b.accountPrivate,
    b.history.map((h) => [h.conversation, h.id, h.senderUser, h.senderDevice, h.sentAt, h.kind, h.content]),
    ...(b.conversations || b.mail ? [b.conversations ?? null] : []),
    ...(b.mail ? [[b.mail.intakePrivate, b.mail.openpgpPrivate]] : []),
  ]);
  if (out.length > MAX_LINK_BUNDLE_BYTES) throw new SealpostError('PAYLOAD_TOO_LARGE', `link bundle: ${out.length} bytes > ${MAX_LINK_BUNDLE_BYTES}; bring over less history`);
  return out;
}

export function decodeLinkBundle(bytes: Uint8Array): LinkBundle {
  const [, accountPublic, accountPrivate, history, conversations, mail] = parseUnknown(zBundle, decodeCbor(bytes, MAX_LINK_BUNDLE_BYTES, 'linkBundle'), 'linkBundle');
  return {
    accountPublic: new Uint8Array(accountPublic),
    accountPrivate: new Uint8Array(accountPrivate),
    history: history.map(([conversation, id, senderUser, senderDevice, sentAt, kind, content]) => ({ conversation, id, senderUser, senderDevice, sentAt, kind, content })),
    ...(conversations ? { conversations } : {}),
    ...(mail ? { mail: { intakePrivate: new Uint8Array(mail[0]), openpgpPrivate: new Uint8Array(mail[1]) } } : {}),
  };
}

/** HPKE info for sealing a link bundle (RFC 9180 §5.1: binds the ciphertext to its purpose). */
export const LINK_BUNDLE_INFO = utf8('Sealpost v1 device-link bundle');
