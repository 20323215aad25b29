// Mail with people outside the organisation (design.md, Outside mail), on the device:
//   - the account's mail keys: an HPKE intake key (the SMTP gateway seals inbound mail to it) and an OpenPGP key
//     (v4, Curve25519, so GnuPG 2.2 reads it), both published in the account-signed device list and so in the
//     key-transparency log; the private halves stay on the account's devices and travel with device linking;
//   - inbound: open the sealed intake record, fetch a large message's blob, parse the MIME (postal-mime), decrypt
//     PGP/MIME (RFC 3156) with the account's OpenPGP key, learn the sender's key from its Autocrypt header, and file
//     it in a thread by In-Reply-To / References beside internal mail;
//   - outbound: build the MIME (the platform's composer), encrypt and sign PGP/MIME when every recipient's key is
//     known, and submit it to the server, which DKIM-signs and delivers it.
import type * as OpenPGP from 'openpgp';
// Loaded when first needed: the web client's first page stays small (openpgp alone is larger than the rest).
const loadOpenpgp = (): Promise<typeof OpenPGP> => import('openpgp');
const parseMime = async (raw: Uint8Array) => (await import('postal-mime')).default.parse(raw as Uint8Array<ArrayBuffer>);
import {
  GATEWAY_DEVICE,
  INTAKE_INFO,
  INTAKE_KEY_BYTES,
  SealpostError,
  chunkAad,
  chunkNonce,
  concatBytes,
  decodeDeviceList,
  decodeIntakeRecord,
  decodeSealedIntake,
  fromBase64Url,
  intakeAad,
  newMessageId,
  parseConversationId,
  parseMailAddress,
  randomBytes,
  signDeviceList,
  signedDeviceListToJson,
  toBase64Url,
  utf8,
  FILE_TAG_BYTES,
  type ConversationId,
  type DeviceList,
  type IntakeRecord,
  type MailKeys,
  type MailPrivateKeys,
  type MessageId,
  type QueueItem,
  type UserId,
} from '@sealpost/protocol';
import { ClientPart, type ClientCore } from './core/client-core.js';
import { mailAnswered, normaliseMessageId, parseReferences } from './mail.js';
import type { Session } from './core/session.js';
import type { MessageRow, ProfileStorage } from './profile-storage.js';
import type { FileTarget, MimeComposer } from './platform.js';

/** An outside person's OpenPGP key as this device knows it. */
export interface OutsideKey {
  address: string;
  fingerprint: string;
  /** Where it came from: an Autocrypt header of mail they sent, or `contacts import-key`. */
  source: 'autocrypt' | 'imported';
  addedAt: string;
  /** Binary public key, base64url. */
  key: string;
}

/** What the user sees of how an outside mail arrived. */
export interface OutsideMailInfo {
  /** The addresses as they appear (outside mail is not between Sealpost users). */
  fromAddress: string;
  toAddresses: string[];
  ccAddresses: string[];
  /** From the gateway's Authentication-Results (RFC 8601): pass, fail, none, … */
  auth: { spf: string; dkim: string; dmarc: string };
  /** Warnings to show with the mail (a failed DKIM check, a DMARC failure, an undecryptable part). */
  warnings: string[];
  encrypted: boolean;
  /** 'verified' (signed by the key we know for the sender), 'unverified' (signed, key unknown), or 'none'. */
  signature: 'verified' | 'unverified' | 'bad' | 'none';
  /** Each kept on the device (`files get ID`) when the mail's attachments total at most MAX_KEPT_ATTACHMENTS. */
  attachments: { id?: string; name: string; type: string; size: number }[];
}

/** Attachments of one outside mail kept on the device, in all (larger ones are listed, not kept). */
export const MAX_KEPT_ATTACHMENTS = 25 * 1024 * 1024;
const ATTACHMENT_META = 'outside_attachment:';
/** Ids of outside attachments: `oa_` and the mail id and index, so `files get` tells them from blob references. */
export const isOutsideAttachmentId = (id: string): boolean => /^oa_[A-Za-z0-9_-]{8,64}_\d{1,3}$/.test(id);

const KEYS_META = 'outside_keys_v1';
const INTAKE_META = 'mail_intake_seed';
const OPENPGP_META = 'openpgp_private';
/** Parsed text kept of an outside mail (the rest of a very long body is cut, with a note). */
const MAX_TEXT = 200 * 1024;

const authResult = (header: string, method: string): string => new RegExp(`\\b${method}=([a-z]+)`, 'i').exec(header)?.[1]?.toLowerCase() ?? 'none';

/** The thread an outside mail starts when it replies to nothing this device has: named by its first reference. */
async function threadIdFor(root: string): Promise<ConversationId> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(`sealpost-outside-thread\0${root}`) as BufferSource));
  return parseConversationId(`c_${toBase64Url(digest.subarray(0, 16))}`);
}

export async function makeMailKeys(cs: { hpke: { deriveKeyPair(ikm: Uint8Array): Promise<{ publicKey: unknown; privateKey: unknown }>; exportPublicKey(k: never): Promise<Uint8Array> } }, user: UserId): Promise<{ keys: MailKeys; secret: MailPrivateKeys }> {
  const openpgp = await loadOpenpgp();
  const seed = randomBytes(32);
  const pair = await cs.hpke.deriveKeyPair(seed);
  const intakeKey = await cs.hpke.exportPublicKey(pair.publicKey as never);
  const pgp = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: user }], format: 'binary', config: { v6Keys: false } });
  return { keys: { intakeKey, openpgp: pgp.publicKey }, secret: { intakePrivate: seed, openpgpPrivate: pgp.privateKey } };
}

/** The account's mail private keys on this device, if it holds them. */
export function mailSecretIn(store: Pick<ProfileStorage, 'getMeta'>): MailPrivateKeys | undefined {
  const seed = store.getMeta(INTAKE_META);
  const pgp = store.getMeta(OPENPGP_META);
  return seed && pgp ? { intakePrivate: seed, openpgpPrivate: pgp } : undefined;
}

export function keepMailSecretIn(store: Pick<ProfileStorage, 'setMeta'>, s: MailPrivateKeys): void {
  store.setMeta(INTAKE_META, s.intakePrivate);
  store.setMeta(OPENPGP_META, s.openpgpPrivate);
}

/** Forget the attachments kept for an outside mail (it is being deleted, by the user or by retention). */
export function forgetOutsideAttachments(store: Pick<ProfileStorage, 'setMeta'>, content: Record<string, unknown>): void {
  for (const a of (content.outside as OutsideMailInfo | undefined)?.attachments ?? []) if (a.id) store.setMeta(`${ATTACHMENT_META}${a.id}`, new Uint8Array(0));
}

export class OutsideMail extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
  ) {
    super(core);
  }

  // ---- keys ------------------------------------------------------------------------------------------------------

  hasMailKeys(): boolean {
    return this.store.getMeta(INTAKE_META) !== undefined && this.store.getMeta(OPENPGP_META) !== undefined;
  }

  mailSecret(): MailPrivateKeys | undefined {
    return mailSecretIn(this.store);
  }

  keepMailSecret(s: MailPrivateKeys): void {
    keepMailSecretIn(this.store, s);
  }

  /**
   * Publish mail keys for an account that has none (enrolled before outside mail existed): made here, put in a new
   * version of the same device list, signed by the account key. Needs a device that holds the account key.
   * Under policy pq-hybrid, an account whose intake key is still X25519 gets an X-Wing one the same way — derived
   * from the same intake seed, so every device that holds the seed opens mail sealed to either key, and mail sealed
   * to the old key before the change still opens (the encapsulation's size says which).
   */
  async ensurePublished(): Promise<'published' | 'upgraded' | 'present' | 'cannot'> {
    const res = await this.api.request<{ deviceList: { body: string; signature: string } | null }>('GET', `/v1/users/${encodeURIComponent(this.user)}/devices`);
    const body = res.deviceList ? fromBase64Url(res.deviceList.body) : undefined;
    if (!body) return 'cannot';
    const list = decodeDeviceList(body);
    const accountPrivate = this.store.getMeta('account_private');
    if (list.mail) {
      const secret = this.mailSecret();
      if (!secret) {
        this.warn('this device does not hold the account\'s mail keys (it was linked before they existed); outside mail opens on the device that made them');
        return 'present';
      }
      if (this.core.policySuite() !== 'pq-hybrid' || list.mail.intakeKey.length === INTAKE_KEY_BYTES['pq-hybrid'] || !accountPrivate) return 'present';
      const { hpke } = await this.engine.impl('pq-hybrid');
      const intakeKey = await hpke.exportPublicKey((await hpke.deriveKeyPair(secret.intakePrivate)).publicKey);
      await this.publishList(accountPrivate, { ...list, version: list.version + 1, mail: { ...list.mail, intakeKey } });
      return 'upgraded';
    }
    if (!accountPrivate) return 'cannot';
    const { keys, secret } = await makeMailKeys((await this.engine.impl(this.core.policySuite())) as never, this.user);
    this.keepMailSecret(secret);
    await this.publishList(accountPrivate, { ...list, version: list.version + 1, mail: keys });
    return 'published';
  }

  private async publishList(accountPrivate: Uint8Array, list: DeviceList): Promise<void> {
    const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, list);
    await this.api.request('POST', '/v1/devices/list', { deviceList: signedDeviceListToJson(signed) });
    this.trust.forget(this.user);
  }

  async openpgpKey(): Promise<OpenPGP.PrivateKey> {
    const secret = this.mailSecret();
    if (!secret) throw new SealpostError('MAIL_KEYS_MISSING', 'this device holds no mail keys (run `sealpost sync` on a device that holds the account key)');
    const openpgp = await loadOpenpgp();
    return openpgp.readPrivateKey({ binaryKey: secret.openpgpPrivate });
  }

  /** This account's OpenPGP fingerprint and armored public key (what outside people import). */
  async ownKey(): Promise<{ address: string; fingerprint: string; armored: string }> {
    const key = await this.openpgpKey();
    return { address: this.user, fingerprint: key.getFingerprint().toUpperCase(), armored: key.toPublic().armor() };
  }

  // ---- outside people's keys -------------------------------------------------------------------------------------

  knownKeys(): OutsideKey[] {
    const raw = this.store.getMetaText(KEYS_META);
    return raw ? (JSON.parse(raw) as OutsideKey[]) : [];
  }

  private keepKeys(keys: OutsideKey[]): void {
    this.store.setMeta(KEYS_META, JSON.stringify(keys));
  }

  /** Import an outside person's public key (armored or binary); returns what was stored, one entry per address on it. */
  async importKey(data: Uint8Array | string, source: OutsideKey['source'] = 'imported', onlyAddress?: string): Promise<OutsideKey[]> {
    if ((typeof data === 'string' ? data.length : data.byteLength) > 64 * 1024) throw new SealpostError('OPENPGP_INVALID', 'key file over 64 KiB');
    const openpgp = await loadOpenpgp();
    let key: OpenPGP.Key;
    try {
      key = typeof data === 'string' || (data[0] === 0x2d && /BEGIN PGP/.test(new TextDecoder().decode(data.subarray(0, 100))))
        ? await openpgp.readKey({ armoredKey: typeof data === 'string' ? data : new TextDecoder().decode(data) })
        : await openpgp.readKey({ binaryKey: data });
    } catch (err) {
      throw new SealpostError('OPENPGP_INVALID', `not an OpenPGP public key: ${(err as Error).message}`, { cause: err });
    }
    if (key.isPrivate()) key = key.toPublic();
    if (key.keyPacket.version !== 4) throw new SealpostError('OPENPGP_INVALID', `OpenPGP v${key.keyPacket.version} key: only v4 keys are used (what GnuPG 2.2 makes)`);
    try {
      await key.getEncryptionKey();
    } catch {
      throw new SealpostError('OPENPGP_INVALID', 'this key has no usable encryption subkey (expired or revoked?)');
    }
    const addresses = key.getUserIDs().map((u) => /<([^<>]+)>\s*$/.exec(u)?.[1] ?? u).flatMap((a) => {
      try {
        return [parseMailAddress(a).toLowerCase()];
      } catch {
        return [];
      }
    });
    const wanted = onlyAddress ? addresses.filter((a) => a === onlyAddress.toLowerCase()) : addresses;
    if (wanted.length === 0) throw new SealpostError('OPENPGP_INVALID', onlyAddress ? `the key is not for ${onlyAddress}` : 'the key names no mail address');
    const now = new Date().toISOString();
    const entries = wanted.map((address) => ({ address, fingerprint: key.getFingerprint().toUpperCase(), source, addedAt: now, key: toBase64Url(key.write()) }));
    const kept = this.knownKeys().filter((k) => !wanted.includes(k.address) || (source === 'autocrypt' && k.source === 'imported'));
    const added = entries.filter((e) => !kept.some((k) => k.address === e.address));
    this.keepKeys([...kept, ...added]);
    return added;
  }

  private async keyFor(address: string): Promise<OpenPGP.Key | undefined> {
    const k = this.knownKeys().find((x) => x.address === address.toLowerCase());
    const openpgp = await loadOpenpgp();
    return k ? openpgp.readKey({ binaryKey: fromBase64Url(k.key)! }) : undefined;
  }

  // ---- inbound ---------------------------------------------------------------------------------------------------

  /** A 'mail-in' queue item: opened, parsed and stored (inside the receive transaction). */
  async processIntake(item: QueueItem): Promise<void> {
    const secret = this.mailSecret();
    if (!secret) throw new SealpostError('MAIL_KEYS_MISSING', 'outside mail arrived, but this device holds no mail keys');
    const sealed = decodeSealedIntake(item.p);
    let record: IntakeRecord;
    try {
      // The suite of the intake key this account published, as the encapsulation's length says (X-Wing or X25519).
      const { hpke } = await this.engine.impl(sealed.enc.length === 32 ? 'classic' : 'pq-hybrid');
      const { privateKey } = await hpke.deriveKeyPair(secret.intakePrivate);
      record = decodeIntakeRecord(await hpke.open(privateKey, sealed.enc, sealed.ct, INTAKE_INFO, intakeAad(this.user)));
    } catch (err) {
      throw new SealpostError('DECRYPT_FAILED', `outside mail: cannot open it with this account's intake key (${(err as Error).message})`, { cause: err });
    }
    const raw = record.body.kind === 'inline' ? record.body.raw : await this.fetchBlob(record.body);
    await this.fileInbound(item.id, record, raw);
    if (record.body.kind === 'blob') await this.files.release(record.body.blob).catch(() => {});
  }

  /** A large message's blob: downloaded and decrypted chunk by chunk (files/file-format.ts). */
  private async fetchBlob(b: Extract<IntakeRecord['body'], { kind: 'blob' }>): Promise<Uint8Array> {
    const res = await fetch(new URL(`/v1/blobs/${b.blob}`, this.api.baseUrl), { headers: { authorization: `Bearer ${await this.session.sessionToken()}` } });
    if (!res.ok) throw new SealpostError('SERVER_UNREACHABLE', `outside mail: fetching its blob failed (HTTP ${res.status})`);
    const sealedBytes = new Uint8Array(await res.arrayBuffer());
    const key = await crypto.subtle.importKey('raw', b.key as BufferSource, 'AES-GCM', false, ['decrypt']);
    const parts: Uint8Array[] = [];
    const chunks = Math.max(1, Math.ceil(b.size / b.chunkSize));
    let off = 0;
    for (let i = 0; i < chunks; i++) {
      const plainLen = i < chunks - 1 ? b.chunkSize : b.size - (chunks - 1) * b.chunkSize;
      const c = sealedBytes.subarray(off, off + plainLen + FILE_TAG_BYTES);
      off += plainLen + FILE_TAG_BYTES;
      try {
        parts.push(new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: chunkNonce(i) as BufferSource, additionalData: chunkAad(i, i === chunks - 1) as BufferSource }, key, c as BufferSource)));
      } catch {
        throw new SealpostError('FILE_CORRUPT', `outside mail: chunk ${i} of its blob does not decrypt`);
      }
    }
    if (off !== sealedBytes.length) throw new SealpostError('FILE_CORRUPT', 'outside mail: its blob has the wrong length');
    return concatBytes(...parts);
  }

  private async fileInbound(id: MessageId, record: IntakeRecord, raw: Uint8Array): Promise<void> {
    const warnings: string[] = [];
    // The gateway's own Authentication-Results come first; any the message carried in are the sender's claims.
    const ours = record.authResults;
    const auth = { spf: authResult(ours, 'spf'), dkim: authResult(ours, 'dkim'), dmarc: authResult(ours, 'dmarc') };
    // mailauth says 'neutral' for a signature whose body hash does not match (RFC 6376 §3.9 leaves that open): broken too.
    if (auth.dkim === 'fail' || auth.dkim === 'neutral') warnings.push('DKIM signature broken: the message may have been changed on the way');
    if (auth.dmarc === 'fail') warnings.push('DMARC failed: the sender\'s domain does not vouch for this message — it may be forged');
    let parsed = await parseMime(raw);
    let encrypted = false;
    let signature: OutsideMailInfo['signature'] = 'none';
    const fromAddress = (parsed.from?.address ?? record.mailFrom ?? '').toLowerCase();
    // Autocrypt (Level 1 §2.3): the key of the sender, when the header names the From address.
    const ac = parsed.headers.find((h) => h.key === 'autocrypt')?.value;
    if (ac && fromAddress) {
      const addr = /(?:^|;)\s*addr=([^;\s]+)/i.exec(ac)?.[1]?.toLowerCase();
      const keydata = /keydata=([A-Za-z0-9+/=\s]+)$/i.exec(ac)?.[1]?.replace(/\s+/g, '');
      if (addr === fromAddress && keydata) {
        try {
          await this.importKey(Uint8Array.from(atob(keydata), (c) => c.charCodeAt(0)), 'autocrypt', addr);
        } catch {
          warnings.push('the Autocrypt key in this mail could not be read');
        }
      }
    }
    // RFC 3156: multipart/encrypted with an application/pgp-encrypted control part and the armored message.
    const contentType = parsed.headers.find((h) => h.key === 'content-type')?.value ?? '';
    if (/^multipart\/encrypted/i.test(contentType) && /application\/pgp-encrypted/i.test(contentType)) {
      const armored = parsed.attachments.find((a) => /octet-stream/i.test(a.mimeType) || /\.asc$/i.test(a.filename ?? ''));
      try {
        if (!armored) throw new Error('no encrypted part');
        const text = typeof armored.content === 'string' ? armored.content : new TextDecoder().decode(armored.content as ArrayBuffer);
        const sender = fromAddress ? await this.keyFor(fromAddress) : undefined;
        const openpgp = await loadOpenpgp();
        const out = await openpgp.decrypt({
          message: await openpgp.readMessage({ armoredMessage: text }),
          decryptionKeys: await this.openpgpKey(),
          format: 'binary',
          ...(sender ? { verificationKeys: sender } : {}),
        });
        encrypted = true;
        if (out.signatures.length > 0) {
          signature = sender ? ((await out.signatures[0]!.verified.catch(() => false)) ? 'verified' : 'bad') : 'unverified';
        }
        if (signature === 'bad') warnings.push('the OpenPGP signature does not verify with the key known for the sender');
        const inner = await parseMime(out.data as Uint8Array);
        parsed = { ...inner, headers: parsed.headers, from: parsed.from, to: parsed.to, cc: parsed.cc, subject: inner.subject && inner.subject !== '...' ? inner.subject : parsed.subject, messageId: parsed.messageId, inReplyTo: parsed.inReplyTo, references: parsed.references, date: parsed.date };
      } catch (err) {
        warnings.push(`an encrypted part could not be decrypted with this account's OpenPGP key (${(err as Error).message.slice(0, 120)})`);
      }
    }
    const messageId = normaliseMessageId(parsed.messageId) ?? `<${id}@outside.invalid>`;
    const inReplyTo = normaliseMessageId(parsed.inReplyTo);
    const references = parseReferences(parsed.references);
    // Thread: the conversation of the mail it replies to (internal or outside), else a new one named by its root.
    const related = [inReplyTo, ...references.slice().reverse()].filter((r): r is string => r !== undefined);
    let thread = mailAnswered(this.store, related)?.conversation;
    thread ??= await threadIdFor(references[0] ?? inReplyTo ?? messageId);
    const sentAt = parsed.date && !Number.isNaN(Date.parse(parsed.date)) ? Math.min(Date.parse(parsed.date), record.receivedAt + 3_600_000) : record.receivedAt;
    const addr = (xs: { address?: string }[] | undefined) => (xs ?? []).map((x) => (x.address ?? '').toLowerCase()).filter((x) => x.length > 0).slice(0, 200);
    const bytesOf = (a: { content: string | ArrayBuffer | Uint8Array }): Uint8Array =>
      typeof a.content === 'string' ? new TextEncoder().encode(a.content) : a.content instanceof Uint8Array ? a.content : new Uint8Array(a.content);
    const sizeOf = (a: { content: string | ArrayBuffer | Uint8Array }) => bytesOf(a).length;
    const total = parsed.attachments.reduce((n, a) => n + sizeOf(a), 0);
    const keep = total <= MAX_KEPT_ATTACHMENTS;
    if (!keep) warnings.push(`the attachments (${total} bytes) are larger than this device keeps for outside mail (${MAX_KEPT_ATTACHMENTS} bytes); they are listed, not saved`);
    const attachments = parsed.attachments.slice(0, 100).map((a, i) => {
      const entry = { name: (a.filename ?? 'attachment').slice(0, 255), type: a.mimeType.slice(0, 255), size: sizeOf(a) };
      if (!keep) return entry;
      const attId = `oa_${id}_${i}`;
      this.store.setMeta(`${ATTACHMENT_META}${attId}`, bytesOf(a));
      return { id: attId, ...entry };
    });
    const info: OutsideMailInfo = {
      fromAddress,
      toAddresses: addr(parsed.to),
      ccAddresses: addr(parsed.cc),
      auth,
      warnings,
      encrypted,
      signature,
      attachments,
    };
    let text = parsed.text ?? '';
    if (text.length > MAX_TEXT) text = `${text.slice(0, MAX_TEXT)}\n\n[… the rest of this mail's text was not kept: ${text.length - MAX_TEXT} more characters]`;
    const row: MessageRow = {
      conversation: thread,
      id,
      // Outside senders are not Sealpost users: the address stands in their place (never used as a user id).
      senderUser: (fromAddress || 'unknown@outside.invalid') as UserId,
      senderDevice: GATEWAY_DEVICE,
      sentAt,
      receivedAt: Date.now(),
      direction: 'in',
      kind: 'mail',
      read: false,
      content: {
        v: 1,
        type: 'mail',
        id,
        sentAt,
        messageId,
        ...(inReplyTo ? { inReplyTo } : {}),
        references,
        from: fromAddress,
        to: info.toAddresses,
        cc: info.ccAddresses,
        subject: (parsed.subject ?? '').slice(0, 998),
        text,
        ...(parsed.html ? { html: parsed.html.slice(0, MAX_TEXT) } : {}),
        attachments: [],
        outside: info,
      },
    };
    this.store.addMessage(row, false);
  }

  /** An outside mail's attachment this device kept, written to `out`. */
  async saveAttachment(id: string, out: FileTarget, opts: { overwrite?: boolean } = {}): Promise<{ id: string; name: string; size: number; type: string }> {
    const bytes = this.store.getMeta(`${ATTACHMENT_META}${id}`);
    const row = this.store.listMail().find((m) => ((m.content.outside as OutsideMailInfo | undefined)?.attachments ?? []).some((a) => a.id === id));
    const entry = (row?.content.outside as OutsideMailInfo | undefined)?.attachments.find((a) => a.id === id);
    if (!bytes || bytes.length === 0 || !entry) throw new SealpostError('ATTACHMENT_NOT_FOUND', `no attachment ${id} in this device's mail`);
    await this.files.saveBytes(bytes, out, opts);
    return { id, name: entry.name, size: entry.size, type: entry.type };
  }

  /** Forget the kept attachments of an outside mail being deleted. */
  forgetAttachments(content: Record<string, unknown>): void {
    forgetOutsideAttachments(this.store, content);
  }

  // ---- outbound --------------------------------------------------------------------------------------------------

  /**
   * Send to outside addresses: encrypted to every recipient's known key when all are known, else (when policy
   * allows and `allowReadable` is set) readable. Returns the Message-ID and whether it was encrypted.
   */
  async send(
    composer: MimeComposer,
    draft: { to: string[]; cc: string[]; insideTo: UserId[]; insideCc: UserId[]; subject: string; text: string; html?: string; inReplyTo?: string; references?: string[]; messageId?: string; thread?: ConversationId },
    opts: { policy: 'openpgp-only' | 'tls-allowed' | 'off'; allowReadable: boolean },
  ): Promise<{ id: MessageId; messageId: string; encrypted: boolean; recipients: string[]; thread: ConversationId }> {
    if (opts.policy === 'off') throw new SealpostError('OUTSIDE_MAIL_DISABLED', 'this organisation sends no mail outside it (policy outside-mail off)');
    const outside = [...new Set([...draft.to, ...draft.cc].map((a) => parseMailAddress(a)))];
    const keys = await Promise.all(outside.map((a) => this.keyFor(a)));
    const missing = outside.filter((_, i) => !keys[i]);
    const encrypt = missing.length === 0;
    if (!encrypt && opts.policy === 'openpgp-only') {
      throw new SealpostError('OUTSIDE_MAIL_NEEDS_KEY', `policy outside-mail openpgp-only, and no OpenPGP key is known for ${missing.join(', ')} (import it: sealpost contacts import-key FILE)`);
    }
    if (!encrypt && !opts.allowReadable) {
      throw new SealpostError('OUTSIDE_MAIL_NEEDS_KEY', `no OpenPGP key is known for ${missing.join(', ')}: this copy would leave readable by the server and the receiving provider (confirm to send it anyway)`);
    }
    const own = await this.openpgpKey();
    const messageId = draft.messageId ?? `<${toBase64Url(randomBytes(18))}@${this.user.slice(this.user.indexOf('@') + 1)}>`;
    const autocrypt = `addr=${this.user}; prefer-encrypt=mutual; keydata=${btoa(String.fromCharCode(...own.toPublic().write()))}`;
    const headers = {
      from: this.user,
      to: [...draft.to, ...draft.insideTo],
      cc: [...draft.cc, ...draft.insideCc],
      subject: draft.subject,
      messageId,
      date: new Date(),
      ...(draft.inReplyTo ? { inReplyTo: draft.inReplyTo } : {}),
      ...(draft.references && draft.references.length > 0 ? { references: draft.references } : {}),
      autocrypt,
    };
    let raw: Uint8Array;
    if (encrypt) {
      const openpgp = await loadOpenpgp();
      // RFC 3156 §4: the signed-and-encrypted body part, then an outer multipart/encrypted around it.
      const inner = await composer.compose({ ...headers, text: draft.text, ...(draft.html ? { html: draft.html } : {}) });
      const armored = await openpgp.encrypt({
        message: await openpgp.createMessage({ binary: inner }),
        encryptionKeys: [...(keys as OpenPGP.Key[]), own.toPublic()],
        signingKeys: own,
        format: 'armored',
      });
      raw = await composer.composeEncrypted({ ...headers, armored: armored as string });
    } else {
      raw = await composer.compose({ ...headers, text: draft.text, ...(draft.html ? { html: draft.html } : {}) });
    }
    const id = newMessageId();
    await this.api.request('POST', '/v1/mail/outbound', { id, to: outside, raw: toBase64Url(raw), encrypted: encrypt });
    const answered = draft.inReplyTo ? mailAnswered(this.store, [draft.inReplyTo, ...(draft.references ?? []).slice().reverse()]) : undefined;
    const thread = draft.thread ?? answered?.conversation ?? (await threadIdFor(draft.references?.[0] ?? draft.inReplyTo ?? messageId));
    if (!draft.thread) {
      const now = Date.now();
      this.store.addMessage(
        {
          conversation: thread,
          id,
          senderUser: this.user,
          senderDevice: this.device,
          sentAt: now,
          receivedAt: now,
          direction: 'out',
          kind: 'mail',
          read: true,
          content: {
            v: 1, type: 'mail', id, sentAt: now, messageId, ...(draft.inReplyTo ? { inReplyTo: draft.inReplyTo } : {}), references: draft.references ?? [],
            from: this.user, to: draft.to, cc: draft.cc, subject: draft.subject, text: draft.text, attachments: [],
            outside: { fromAddress: this.user, toAddresses: draft.to, ccAddresses: draft.cc, auth: { spf: 'none', dkim: 'none', dmarc: 'none' }, warnings: [], encrypted: encrypt, signature: encrypt ? 'verified' : 'none', attachments: [] },
          },
        },
        true,
      );
    }
    return { id, messageId, encrypted: encrypt, recipients: outside, thread };
  }
}

