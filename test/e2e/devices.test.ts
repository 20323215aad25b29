// Multi-device, end to end: a user links a second device by code, approves it on the first with the fingerprint
// check, and from then on both devices receive everything and see what the other sends. The user lists and
// revokes devices; a revoked device is out of every conversation.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealpostError } from '@sealpost/protocol';
import { SealpostClient } from '@sealpost/client';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

describe('a second device', () => {
  it('joins every conversation, receives what others send, and shows what the other device sends', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'before the phone');
    await bob.client.sync();

    const phone = await server.link(alice, { history: 10, deviceName: 'phone' });
    expect(phone.client.user).toBe('alice@localhost');
    // History came over, end-to-end encrypted, from the approving device.
    expect(phone.client.messages().map((m) => m.text)).toContain('before the phone');

    // The first device added the phone to the chat with bob.
    await phone.client.sync();
    expect(phone.client.conversations().map((c) => c.id)).toContain(conversation);

    await bob.client.sync();
    await bob.client.send({ conversation }, 'hello both of you');
    const onLaptop = chats(await alice.client.sync());
    const onPhone = chats(await phone.client.sync());
    expect(onLaptop.map((m) => m.text)).toEqual(['hello both of you']);
    expect(onPhone.map((m) => m.text)).toEqual(['hello both of you']);

    await phone.client.send({ conversation }, 'sent from the phone');
    expect(chats(await bob.client.sync()).map((m) => [m.from, m.text])).toEqual([['alice@localhost', 'sent from the phone']]);
    const mirrored = chats(await alice.client.sync());
    expect(mirrored.map((m) => [m.from, m.text])).toEqual([['alice@localhost', 'sent from the phone']]);

    const devices = await alice.client.devices();
    expect(devices).toHaveLength(2);
    expect(devices.every((d) => d.status === 'active' && d.signed)).toBe(true);
    expect(devices.find((d) => d.current)?.id).toBe(alice.client.device);
    expect(devices.find((d) => d.id === phone.client.device)?.name).toBe('phone');

    // New conversations started by someone else include both of alice's devices.
    const carol = await server.enroll('carol');
    const fresh = await carol.client.send({ to: ['alice@localhost'] }, 'to all of alice');
    expect(chats(await alice.client.sync()).map((m) => m.text)).toEqual(['to all of alice']);
    expect(chats(await phone.client.sync()).map((m) => [m.conversation, m.text])).toEqual([[fresh.conversation, 'to all of alice']]);
  });

  it('is not approved when the fingerprint differs, and nothing changes', async () => {
    const alice = await server.enroll('alice');
    const profile = tempDir('phone');
    const stop = new AbortController();
    let failure: unknown;
    const linking = SealpostClient.link(
      { server: server.url, user: 'alice@localhost', profile },
      {
        pollMs: 100,
        signal: stop.signal,
        onCode: (c) => {
          void alice.client
            .approveLink(c.code, { fingerprint: '00000 00000 00000 00000 00000 00000' })
            .catch((err) => (failure = err))
            .finally(() => stop.abort());
        },
      },
    );
    await expect(linking).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(failure).toBeInstanceOf(SealpostError);
    expect((failure as SealpostError).code).toBe('FINGERPRINT_MISMATCH');
    expect(await alice.client.devices()).toHaveLength(1);
  });

  it('is refused beyond the policy maximum of devices per user', async () => {
    const alice = await server.enroll('alice');
    await server.adminRequest('PUT', '/v1/admin/policy', { change: { maxDevicesPerUser: 1 } });
    await expect(server.link(alice)).rejects.toMatchObject({ code: 'TOO_MANY_DEVICES' });
    expect(await alice.client.devices()).toHaveLength(1);
  });

  it('revoked by the user leaves the signed list and every conversation, and cannot connect', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const { conversation } = await bob.client.send({ to: ['alice@localhost'] }, 'hi');
    const phone = await server.link(alice);
    await phone.client.sync();
    expect(phone.client.conversations().map((c) => c.id)).toContain(conversation);

    await alice.client.revokeDevice(phone.client.device);
    const devices = await alice.client.devices();
    expect(devices.find((d) => d.id === phone.client.device)).toMatchObject({ status: 'revoked', signed: false });

    // The laptop committed the removal; bob's next message is for the laptop alone.
    await bob.client.sync();
    await bob.client.send({ conversation }, 'after the revoke');
    expect(chats(await alice.client.sync()).map((m) => m.text)).toEqual(['hi', 'after the revoke']);
    await expect(phone.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
  });

  it('revoked by an admin is signed out of the device list by the user\'s other device', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await bob.client.send({ to: ['alice@localhost'] }, 'hi');
    const phone = await server.link(alice);
    await server.adminRequest('POST', `/v1/admin/users/alice@localhost/devices/${phone.client.device}/revoke`, {});
    // The removal notice in the shared conversation tells the laptop; its sync re-signs the list.
    await alice.client.sync();
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    expect((db.prepare('SELECT version FROM device_lists WHERE user = ?').get('alice@localhost') as { version: number }).version).toBe(3);
    db.close();
    const devices = await alice.client.devices();
    expect(devices.find((d) => d.id === phone.client.device)).toMatchObject({ status: 'revoked', signed: false });
    expect(devices.find((d) => d.id === alice.client.device)).toMatchObject({ status: 'active', signed: true });
  });
});
