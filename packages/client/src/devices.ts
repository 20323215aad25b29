// This account's devices from one of them: list, link a new one by approval, revoke.
import { mailSecretIn } from './outside-mail.js';
import {
  SealpostError,
  fromBase64Url,
  signDeviceList,
  linkFingerprint,
  parseLinkCode,
  type HistoryItem,
  signedDeviceListToJson,
  toBase64Url,
  type DeviceId,
} from '@sealpost/protocol';
import { linkSuiteOf, sealLinkBundle } from './device-link.js';
import type { LinkRequestInfo, OwnDevice, Received } from './types.js';
import { ClientCore, ClientPart } from './core/client-core.js';
import type { Membership } from './membership.js';
import type { OwnDevices } from './own-devices.js';
import type { Receiver } from './receiving.js';

/** This account's devices: list them, approve a new one (linking), revoke one. */
export class Devices extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly own: OwnDevices,
    private readonly receiver: Receiver,
    private readonly membership: Membership,
    /** A whole sync (the front's), for a device that just linked and waits for its conversations. */
    private readonly sync: () => Promise<Received[]>,
  ) {
    super(core);
  }

  /** This account's devices: the signed list, with what the server knows of each (name, last seen, revoked). */
  devices(): Promise<OwnDevice[]> {
    return this.serial(async () => {
      let { list, records } = await this.own.ownSignedList();
      if (records.some((r) => r.revokedAt && list.devices.some((d) => d.id === r.id)) && this.store.getMeta('account_private')) {
        await this.own.tidyOwnList();
        ({ list, records } = await this.own.ownSignedList());
      }
      return records.map((r) => ({
        id: r.id,
        name: r.name,
        createdAt: r.createdAt,
        lastSeenAt: r.lastSeenAt,
        status: r.revokedAt ? ('revoked' as const) : ('active' as const),
        signed: list.devices.some((d) => d.id === r.id),
        current: r.id === this.device,
      }));
    });
  }

  /** What a new device asked with this code: who, and its fingerprint to compare with the one it shows. */
  linkRequest(code: string): Promise<LinkRequestInfo> {
    return this.serial(async () => {
      const info = await this.fetchLinkRequest(code);
      return { device: info.device, deviceName: info.deviceName, fingerprint: info.fingerprint, createdAt: info.createdAt };
    });
  }

  async fetchLinkRequest(code: string) {
    const c = parseLinkCode(code);
    if (!c) throw new SealpostError('LINK_CODE_INVALID', 'not a link code (like ABCDE-12345)');
    const r = await this.api.request<{ device: DeviceId; deviceName: string | null; signatureKey: string; hpkeKey: string; createdAt: string }>('GET', `/v1/link/${c}`);
    const signatureKey = fromBase64Url(r.signatureKey);
    const hpkeKey = fromBase64Url(r.hpkeKey);
    if (!signatureKey || !hpkeKey || signatureKey.length !== 32 || (hpkeKey.length !== 32 && hpkeKey.length !== 1216)) throw new SealpostError('PROTOCOL_ERROR', 'link request: malformed keys');
    return { ...r, code: c, signatureKey, hpkeKey, fingerprint: linkFingerprint(signatureKey, hpkeKey) };
  }

  /**
   * Approve a new device: sign the next device list with it, seal the account key (and the last `history`
   * messages) to it, and add it to every conversation this device is in. `fingerprint`, when given (from the QR
   * payload or typed by the user), must match the request's.
   */
  /**
   * Right after linking: sync until this device has joined every conversation the approving device said it
   * would add it to (their Welcomes arrive a moment after the approval), or `timeoutMs` passes.
   */
  async awaitLinkedConversations(timeoutMs = 30_000): Promise<{ joined: number; expected: number; received: Received[] }> {
    const expected = JSON.parse(this.store.getMetaText('link_conversations') ?? '[]') as string[];
    const received: Received[] = [];
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      received.push(...(await this.sync()));
      const have = new Set(this.store.listConversations().map((c) => c.id as string));
      const joined = expected.filter((id) => have.has(id)).length;
      if (joined === expected.length || Date.now() > deadline) return { joined, expected: expected.length, received };
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** Math.min(round, 3), 1000)));
    }
  }

  approveLink(code: string, opts: { fingerprint?: string; history?: number } = {}): Promise<{ device: DeviceId; conversations: number }> {
    return this.serial(async () => {
      await this.membership.flushPendingCommits();
      const req = await this.fetchLinkRequest(code);
      if (opts.fingerprint !== undefined && opts.fingerprint.replace(/\s/g, '') !== req.fingerprint.replace(/\s/g, '')) {
        throw new SealpostError('FINGERPRINT_MISMATCH', `the request's fingerprint is ${req.fingerprint}, not the one given; do not approve it`);
      }
      const accountPrivate = this.store.getMeta('account_private');
      const accountPublic = this.store.getMeta('account_public');
      if (!accountPrivate || !accountPublic) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
      const { list } = await this.own.ownSignedList();
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, {
        ...list,
        version: list.version + 1,
        devices: [...list.devices, { id: req.device, signatureKey: req.signatureKey, addedAt: Date.now() }],
      });
      const count = Math.max(0, Math.min(opts.history ?? 0, 1000));
      const history: HistoryItem[] = this.store.recentMessages(count).map((m) => ({
        conversation: m.conversation,
        id: m.id,
        senderUser: m.senderUser,
        senderDevice: m.senderDevice,
        sentAt: m.sentAt,
        kind: m.kind === 'mail' ? 'mail' : 'text',
        content: JSON.stringify(m.content),
      }));
      const conversations = this.store.listConversations().filter((c) => c.status === 'active').map((c) => c.id);
      const mail = mailSecretIn(this.store);
      // Sealed with the HPKE of the new device's key: X-Wing when it made a post-quantum one (policy pq-hybrid).
      const sealed = await sealLinkBundle(await this.engine.impl(linkSuiteOf(req.hpkeKey)), req.hpkeKey, req.device, { accountPublic, accountPrivate, history, conversations, ...(mail ? { mail } : {}) });
      await this.api.request('POST', `/v1/link/${req.code}/approve`, {
        deviceList: signedDeviceListToJson(signed),
        sealedEnc: toBase64Url(sealed.enc),
        sealed: toBase64Url(sealed.ct),
      });
      this.trust.forget(this.user);
      // Bring the new device into every conversation this one is in (a commit claims its KeyPackage).
      await this.receiver.syncInternal();
      let joined = 0;
      for (const conv of this.store.listConversations()) {
        if (conv.status !== 'active') continue;
        await this.membership.commitChange(conv.id, { addUsers: [this.user] });
        joined++;
      }
      return { device: req.device, conversations: joined };
    });
  }

  /** Revoke another of this account's devices: a new signed list without it; its conversations remove it. */
  revokeDevice(id: string): Promise<void> {
    return this.serial(async () => {
      if (id === this.device) throw new SealpostError('INVALID_INPUT', 'this is the device you are using; revoke it from another device, or ask an admin');
      const accountPrivate = this.store.getMeta('account_private');
      if (!accountPrivate) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
      const { list, records } = await this.own.ownSignedList();
      if (!records.some((r) => r.id === id)) throw new SealpostError('DEVICE_NOT_FOUND', `no device ${id} in your account`);
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, {
        ...list,
        version: list.version + 1,
        devices: list.devices.filter((d) => d.id !== id),
      });
      await this.api.request('POST', '/v1/devices/revoke', { device: id, deviceList: signedDeviceListToJson(signed) });
      this.trust.forget(this.user);
      // The server queued removal notices to every member, this device included: commit them now.
      await this.receiver.syncInternal();
      await this.membership.applyRemovals();
    });
  }
}
