// Attack: a device (or anyone holding one device's key) tries to authenticate as another device, or to reuse a
// challenge. The server must refuse: a session only comes from a fresh challenge signed by that device's own key.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { HttpApi, ProfileStore } from '@sealpost/client';
import { challengeMessage, defaultCiphersuite, fromBase64Url, signLabelled, toBase64Url, type DeviceId } from '@sealpost/protocol';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

function deviceOf(profile: string): { device: DeviceId; key: Uint8Array } {
  const store = ProfileStore.open(profile, { create: false });
  try {
    return { device: store.getMetaText('device') as DeviceId, key: store.getMeta('device_sig_private')! };
  } finally {
    store.close();
  }
}

it('refuses a challenge signed with another device key, and a replayed challenge', async () => {
  const a = await server.enroll('alice');
  const b = await server.enroll('bob');
  await a.client.close();
  await b.client.close();
  const alice = deviceOf(a.profile);
  const bob = deviceOf(b.profile);
  const cs = await defaultCiphersuite();
  const api = new HttpApi(server.url);

  // Alice's key signs a challenge issued for Bob's device.
  const { challenge, domain } = await api.request<{ challenge: string; domain: string }>('POST', '/v1/auth/challenge', { device: bob.device }, 'none');
  const forged = await signLabelled(cs.signature, alice.key, 'auth-challenge', challengeMessage(domain, bob.device, fromBase64Url(challenge)!));
  await expect(
    api.request('POST', '/v1/auth/session', { device: bob.device, challenge, signature: toBase64Url(forged) }, 'none'),
  ).rejects.toMatchObject({ code: 'AUTH_FAILED' });

  // A correctly signed challenge works once; the same challenge and signature again are refused.
  const c2 = await api.request<{ challenge: string }>('POST', '/v1/auth/challenge', { device: bob.device }, 'none');
  const good = await signLabelled(cs.signature, bob.key, 'auth-challenge', challengeMessage(domain, bob.device, fromBase64Url(c2.challenge)!));
  const body = { device: bob.device, challenge: c2.challenge, signature: toBase64Url(good) };
  await expect(api.request('POST', '/v1/auth/session', body, 'none')).resolves.toMatchObject({ device: bob.device });
  await expect(api.request('POST', '/v1/auth/session', body, 'none')).rejects.toMatchObject({ code: 'AUTH_FAILED' });

  // A signature over Bob's challenge for another domain does not transfer.
  const c3 = await api.request<{ challenge: string }>('POST', '/v1/auth/challenge', { device: bob.device }, 'none');
  const otherDomain = await signLabelled(cs.signature, bob.key, 'auth-challenge', challengeMessage('evil.example', bob.device, fromBase64Url(c3.challenge)!));
  await expect(
    api.request('POST', '/v1/auth/session', { device: bob.device, challenge: c3.challenge, signature: toBase64Url(otherDomain) }, 'none'),
  ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
});
