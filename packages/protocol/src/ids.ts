// Branded identifiers. Only the parsers in this file mint them; everything else receives them typed.
import { z } from 'zod';
import { SealpostError } from './errors.js';
import { randomBytes, toBase64Url } from './bytes.js';

export type UserId = string & { readonly __brand: 'UserId' };
export type DeviceId = string & { readonly __brand: 'DeviceId' };
export type ConversationId = string & { readonly __brand: 'ConversationId' };
export type MessageId = string & { readonly __brand: 'MessageId' };
export type BlobId = string & { readonly __brand: 'BlobId' };

// local part: lower-case letters, digits, dot, dash, underscore; domain: DNS labels (or "localhost").
const userPattern = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?@(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const domainPattern = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const devicePattern = /^dev_[A-Za-z0-9_-]{22}$/;
const conversationPattern = /^c_[A-Za-z0-9_-]{22}$/;
const messagePattern = /^[A-Za-z0-9_-]{8,64}$/;
const blobPattern = /^b_[A-Za-z0-9_-]{22}$/;

function parseWith<T extends string>(pattern: RegExp, what: string, max: number) {
  return (x: unknown): T => {
    if (typeof x !== 'string' || x.length > max || !pattern.test(x)) {
      const shown = typeof x === 'string' ? JSON.stringify(x.slice(0, 80)) : typeof x;
      throw new SealpostError('INVALID_INPUT', `${what}: not a valid ${what} (${shown})`);
    }
    return x as T;
  };
}

/** `alice@example.org`; upper case is folded to lower case first, as mail addresses are. */
export function parseUserId(x: unknown): UserId {
  const folded = typeof x === 'string' ? x.trim().toLowerCase() : x;
  return parseWith<UserId>(userPattern, 'user id', 320)(folded);
}
export function parseDomain(x: unknown): string {
  const folded = typeof x === 'string' ? x.trim().toLowerCase() : x;
  return parseWith<string>(domainPattern, 'domain', 253)(folded);
}
export const parseDeviceId = parseWith<DeviceId>(devicePattern, 'device id', 26);
export const parseConversationId = parseWith<ConversationId>(conversationPattern, 'conversation id', 24);
export const parseMessageId = parseWith<MessageId>(messagePattern, 'message id', 64);
export const parseBlobId = parseWith<BlobId>(blobPattern, 'blob id', 24);

export const newDeviceId = (): DeviceId => parseDeviceId(`dev_${toBase64Url(randomBytes(16))}`);
export const newConversationId = (): ConversationId => parseConversationId(`c_${toBase64Url(randomBytes(16))}`);
/** 16 random bytes; never starting with '-', so a command line cannot take the id for an option (`mail read ID`). */
export function newMessageId(): MessageId {
  for (;;) {
    const id = toBase64Url(randomBytes(16));
    if (id[0] !== '-') return parseMessageId(id);
  }
}
export const newBlobId = (): BlobId => parseBlobId(`b_${toBase64Url(randomBytes(16))}`);

export function userDomain(user: UserId): string {
  return user.slice(user.indexOf('@') + 1);
}

/** zod schemas that mint the brands through the parsers above. */
function zodFrom<T>(parse: (x: unknown) => T) {
  return z.string().max(320).transform((s, ctx) => {
    try {
      return parse(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}
export const zUserId = zodFrom(parseUserId);
export const zDeviceId = zodFrom(parseDeviceId);
export const zConversationId = zodFrom(parseConversationId);
export const zMessageId = zodFrom(parseMessageId);
export const zBlobId = zodFrom(parseBlobId);
