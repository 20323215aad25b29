// Making a profile a device of an account: enrollment with an activation code (the first device makes the account
// key), or linking (a further device, approved on one the account has, receives the account key sealed to it).
// Both run on a fresh profile's core; the caller discards the profile if either fails.
import {
  SealpostError,
  bytesEqual,
  fromBase64Url,
  linkFingerprint,
  linkQrPayload,
  signDeviceList,
  signedDeviceListFromJson,
  signedDeviceListToJson,
  toBase64Url,
  verifyDeviceList,
  type SuiteName,
} from '@sealpost/protocol';
import { HttpApi } from './http-api.js';
import { newLinkHpkeKeys, openLinkBundle } from './device-link.js';
import { KEY_PACKAGE_BATCH, type ClientCore } from './core/client-core.js';
import type { ClientOptions, LinkCode, ServerInfo } from './types.js';

import { keepMailSecretIn, makeMailKeys } from './outside-mail.js';

const LINK_POLL_MS = 1000;

/** The first device: account key and device key made here, a signed device list, KeyPackages, then POST /v1/enroll. */
export async function enrollDevice(core: ClientCore, params: { code: string; deviceName?: string }, info: ServerInfo): Promise<void> {
  const user = core.user;
  const account = await core.engine.generateSignatureKeyPair();
  const deviceKeys = await core.engine.generateSignatureKeyPair();
  // The account's mail keys are made with it, so outside mail can arrive from the first moment (outside-mail.ts).
  // Under policy pq-hybrid the intake key is X-Wing: outside mail recorded on its way in stays unreadable later too.
  const mail = await makeMailKeys((await core.engine.impl(info.policy.conversationSuite === 'pq-hybrid' ? 'pq-hybrid' : 'classic')) as never, user);
  const deviceList = await signDeviceList(core.engine.cs.signature, account.privateKey, {
    user,
    version: 1,
    accountKey: account.publicKey,
    devices: [{ id: core.device, signatureKey: deviceKeys.publicKey, addedAt: Date.now() }],
    mail: mail.keys,
  });
  keepMailSecretIn(core.store, mail.secret);
  core.saveIdentity(info, deviceKeys);
  core.store.setMeta('account_public', account.publicKey);
  core.store.setMeta('account_private', account.privateKey);
  core.store.putKnownUser(user, account.publicKey, 1, Date.now());
  const kps = await core.makeKeyPackages(KEY_PACKAGE_BATCH);
  const lastResort = await core.makeKeyPackages(1, true);
  await core.api.request(
    'POST',
    '/v1/enroll',
    {
      user,
      code: params.code,
      device: core.device,
      ...(params.deviceName ? { deviceName: params.deviceName } : {}),
      deviceList: signedDeviceListToJson(deviceList),
      keyPackages: kps.map(toBase64Url),
      lastResortKeyPackage: toBase64Url(lastResort[0]!),
    },
    'none',
  );
  // KeyPackages of the other suites (pq-hybrid), so this device can be added to any conversation from now on.
  await core.replenishKeyPackages();
}

/** pq-hybrid KeyPackages a new device brings with its link request (more follow once it is linked). */
const LINK_HYBRID_KEY_PACKAGES = 20;

/**
 * A further device: post this device's keys, hand the code to `onCode`, wait for the approval (polling), then
 * believe the account key it received only if that key signed a device list naming exactly this device and key.
 */
export async function linkDevice(
  core: ClientCore,
  params: { deviceName?: string },
  info: ServerInfo,
  options: ClientOptions & { onCode: (code: LinkCode) => void; signal?: AbortSignal; pollMs?: number },
): Promise<void> {
  const { user, server } = core;
  const deviceKeys = await core.engine.generateSignatureKeyPair();
  // The link bundle (the account key, history) is sealed to this key: post-quantum (X-Wing) under policy pq-hybrid.
  const linkSuite: SuiteName = info.policy.conversationSuite === 'pq-hybrid' ? 'pq-hybrid' : 'classic';
  const linkCs = await core.engine.impl(linkSuite);
  const hpke = await newLinkHpkeKeys(linkCs);
  core.saveIdentity(info, deviceKeys);
  // pq-hybrid ones too: the approving device adds this one to every conversation of the account, post-quantum ones included.
  const kps = [...(await core.makeKeyPackages(KEY_PACKAGE_BATCH)), ...(await core.makeKeyPackages(LINK_HYBRID_KEY_PACKAGES, false, 'pq-hybrid'))];
  const lastResort = await core.makeKeyPackages(1, true);
  const anon = new HttpApi(server);
  const req = await anon.request<{ code: string; expiresAt: string }>(
    'POST',
    '/v1/link',
    {
      user,
      device: core.device,
      ...(params.deviceName ? { deviceName: params.deviceName } : {}),
      signatureKey: toBase64Url(deviceKeys.publicKey),
      hpkeKey: toBase64Url(hpke.publicKey),
      keyPackages: kps.map(toBase64Url),
      lastResortKeyPackage: toBase64Url(lastResort[0]!),
    },
    'none',
  );
  const fingerprint = linkFingerprint(deviceKeys.publicKey, hpke.publicKey);
  options.onCode({ code: req.code, qr: linkQrPayload({ server, user, code: req.code, fingerprint }), fingerprint, expiresAt: req.expiresAt });
  const deadline = Date.parse(req.expiresAt) + 5_000;
  let sealed: Uint8Array | undefined;
  while (!sealed) {
    if (options.signal?.aborted) throw new SealpostError('CANCELLED', 'linking was cancelled; nothing was linked (the request expires on the server by itself)');
    if (Date.now() > deadline) throw new SealpostError('LINK_EXPIRED', 'the link request expired before it was approved; start again');
    await new Promise((r) => setTimeout(r, options.pollMs ?? LINK_POLL_MS));
    const st = await anon.request<{ status: string; sealed?: string }>('GET', `/v1/link/${req.code}/status?device=${core.device}`, undefined, 'none');
    if (st.status === 'approved' && st.sealed) sealed = fromBase64Url(st.sealed);
  }
  const bundle = await openLinkBundle(linkCs, hpke.privateKey, core.device, sealed, linkSuite);
  // The bundle came from the server's relay: believe it only if the account key it carries signed a device
  // list that names exactly this device with exactly this key.
  const listed = await core.api.request<{ deviceList: { body: string; signature: string } }>('GET', `/v1/users/${encodeURIComponent(user)}/devices`);
  const verdict = await verifyDeviceList(core.engine.cs.signature, signedDeviceListFromJson(listed.deviceList), {
    user,
    pinned: { accountKey: bundle.accountPublic, version: 1 },
  });
  const me = verdict.kind === 'ok' ? verdict.list.devices.find((d) => d.id === core.device) : undefined;
  if (verdict.kind !== 'ok' || !me || !bytesEqual(me.signatureKey, deviceKeys.publicKey)) {
    throw new SealpostError('DEVICE_LIST_INVALID', 'the approved device list does not name this device with its key under the account key received');
  }
  await core.kt.checkDeviceList(user, signedDeviceListFromJson(listed.deviceList).body, verdict.list);
  core.store.setMeta('account_public', bundle.accountPublic);
  core.store.setMeta('account_private', bundle.accountPrivate);
  if (bundle.mail) keepMailSecretIn(core.store, bundle.mail);
  core.store.putKnownUser(user, bundle.accountPublic, verdict.list.version, Date.now());
  core.importHistory(bundle.history);
  await core.replenishKeyPackages();
  core.store.setMeta('link_conversations', JSON.stringify(bundle.conversations ?? []));
}
