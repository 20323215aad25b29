import { describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../bytes.js';
import { newConversationId, newDeviceId, parseUserId } from '../ids.js';
import { GroupEngine, type GroupState, type KeyPackageBundle } from './group-engine.js';
import type { DeviceIdentity } from './credential.js';

// Test double: every device named here is "in its user's device list".
async function makeDevice(engine: GroupEngine, user: string) {
  const identity: DeviceIdentity = { user: parseUserId(user), device: newDeviceId() };
  const keys = await engine.generateSignatureKeyPair();
  return { identity, keys };
}

describe('GroupEngine', () => {
  it('creates a group, adds, talks, removes; the removed member cannot read on', async () => {
    const trusted = new Map<string, Uint8Array>();
    const engine = await GroupEngine.create(async (id, key) => {
      const k = trusted.get(id.device);
      return k !== undefined && Buffer.from(k).equals(Buffer.from(key));
    });
    const alice = await makeDevice(engine, 'alice@localhost');
    const bob = await makeDevice(engine, 'bob@localhost');
    const carol = await makeDevice(engine, 'carol@localhost');
    for (const d of [alice, bob, carol]) trusted.set(d.identity.device, d.keys.publicKey);

    const conv = newConversationId();
    let a: GroupState = await engine.createGroup(conv, alice.identity, alice.keys);
    const bobKp: KeyPackageBundle = await engine.createKeyPackage(bob.identity, bob.keys);
    const carolKp = await engine.createKeyPackage(carol.identity, carol.keys);
    const added = await engine.commit(a, { add: [bobKp.publicBytes, carolKp.publicBytes], conversationInfo: utf8('chat') });
    a = added.state;
    expect(added.welcome).toBeDefined();
    expect(engine.welcomeRefs(added.welcome!)).toEqual(expect.arrayContaining([bobKp.ref, carolKp.ref]));
    const joinedB = await engine.join(added.welcome!, bobKp);
    let b = engine.decodeState(engine.encodeState(joinedB.state));
    let c = (await engine.join(added.welcome!, carolKp)).state;
    expect(fromUtf8(joinedB.conversationInfo!)).toBe('chat');
    expect(engine.members(b).map((m) => m.user).sort()).toEqual(['alice@localhost', 'bob@localhost', 'carol@localhost']);

    const hello = await engine.encrypt(a, utf8('hello'));
    a = hello.state;
    const atB = await engine.process(b, hello.message);
    expect(atB.kind).toBe('application');
    if (atB.kind !== 'application') throw new Error();
    b = atB.state;
    expect(fromUtf8(atB.plaintext)).toBe('hello');
    expect(atB.sender).toEqual(alice.identity);

    // Replaying the same ciphertext fails: its key was consumed.
    await expect(engine.process(b, hello.message)).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });

    // Bob removes Carol.
    const removal = await engine.commit(b, { removeDevices: [carol.identity.device] });
    b = removal.state;
    const atA = await engine.process(a, removal.commit);
    if (atA.kind !== 'commit') throw new Error();
    a = atA.state;
    expect(atA.removed).toEqual([carol.identity]);
    expect(atA.committer).toEqual(bob.identity);
    const atC = await engine.process(c, removal.commit);
    if (atC.kind !== 'commit') throw new Error();
    expect(atC.selfRemoved).toBe(true);
    c = atC.state;
    expect(engine.isActive(c)).toBe(false);

    const secret = await engine.encrypt(a, utf8('after removal'));
    await expect(engine.process(c, secret.message)).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    const atB2 = await engine.process(b, secret.message);
    expect(atB2.kind === 'application' && fromUtf8(atB2.plaintext)).toBe('after removal');
  });

  it('refuses a group member whose key is not in its device list', async () => {
    const engine = await GroupEngine.create(async (id) => id.user !== 'mallory@localhost');
    const alice = await makeDevice(engine, 'alice@localhost');
    const mallory = await makeDevice(engine, 'mallory@localhost');
    const a = await engine.createGroup(newConversationId(), alice.identity, alice.keys);
    const kp = await engine.createKeyPackage(mallory.identity, mallory.keys);
    await expect(engine.commit(a, { add: [kp.publicBytes] })).rejects.toMatchObject({ code: 'MLS_ERROR' });
  });

  it('saves a message as one changed secret-tree node, and an epoch change in full', async () => {
    const engine = await GroupEngine.create(async () => true);
    const alice = await makeDevice(engine, 'alice@localhost');
    const bob = await makeDevice(engine, 'bob@localhost');
    let a = await engine.createGroup(newConversationId(), alice.identity, alice.keys);
    const kp = await engine.createKeyPackage(bob.identity, bob.keys);
    const added = await engine.commit(a, { add: [kp.publicBytes] });
    expect(engine.stateChange(a, added.state).kind).toBe('full');
    a = added.state;
    let b = (await engine.join(added.welcome!, kp)).state;

    const sent = await engine.encrypt(a, utf8('one'));
    const change = engine.stateChange(a, sent.state);
    expect(change.kind).toBe('secrets');
    if (change.kind !== 'secrets') throw new Error();
    expect(change.changed).toHaveLength(1);
    expect(change.changed[0]!.index).toBe(0); // Alice's leaf is node 0
    expect(engine.stateChange(sent.state, sent.state)).toEqual({ kind: 'none' });

    // Parts round-trip to a state that behaves the same.
    const parts = engine.splitState(sent.state);
    const restored = engine.joinState(parts);
    expect(engine.encodeState(restored)).toEqual(engine.encodeState(sent.state));
    const got = await engine.process(b, sent.message);
    if (got.kind !== 'application') throw new Error();
    b = got.state;
    const next = await engine.encrypt(restored, utf8('two'));
    const got2 = await engine.process(b, next.message);
    expect(got2.kind === 'application' && fromUtf8(got2.plaintext)).toBe('two');
  });
});

describe('GroupEngine, pq-hybrid suite (X-Wing)', () => {
  it('runs a hybrid group: add, talk, remove, re-add; its suite is fixed and shown', async () => {
    const engine = await GroupEngine.create(async () => true);
    const alice = await makeDevice(engine, 'alice@localhost');
    const bob = await makeDevice(engine, 'bob@localhost');
    let a = await engine.createGroup(newConversationId(), alice.identity, alice.keys, 'pq-hybrid');
    expect(engine.suiteOf(a)).toBe('pq-hybrid');
    const kp = await engine.createKeyPackage(bob.identity, bob.keys, 'pq-hybrid');
    expect((await engine.readKeyPackage(kp.publicBytes)).suite).toBe('pq-hybrid');
    const added = await engine.commit(a, { add: [kp.publicBytes] });
    a = added.state;
    let b = (await engine.join(added.welcome!, kp)).state;
    expect(engine.suiteOf(b)).toBe('pq-hybrid');
    const hello = await engine.encrypt(a, utf8('hello, quantum-safe'));
    const got = await engine.process(b, hello.message);
    expect(got.kind === 'application' && fromUtf8(got.plaintext)).toBe('hello, quantum-safe');
    if (got.kind !== 'application') throw new Error();
    b = got.state;
    const removed = await engine.commit(a, { removeDevices: [bob.identity.device] });
    a = removed.state;
    const atB = await engine.process(b, removed.commit);
    expect(atB.kind === 'commit' && atB.selfRemoved).toBe(true);
    const kp2 = await engine.createKeyPackage(bob.identity, bob.keys, 'pq-hybrid');
    const readded = await engine.commit(a, { add: [kp2.publicBytes] });
    const b2 = (await engine.join(readded.welcome!, kp2)).state;
    const again = await engine.encrypt(readded.state, utf8('welcome back'));
    const got2 = await engine.process(b2, again.message);
    expect(got2.kind === 'application' && fromUtf8(got2.plaintext)).toBe('welcome back');
  });

  it('refuses a classic KeyPackage for a hybrid group, and a hybrid one for a classic group (no downgrade, no mix)', async () => {
    const engine = await GroupEngine.create(async () => true);
    const alice = await makeDevice(engine, 'alice@localhost');
    const bob = await makeDevice(engine, 'bob@localhost');
    const hybrid = await engine.createGroup(newConversationId(), alice.identity, alice.keys, 'pq-hybrid');
    const classicKp = await engine.createKeyPackage(bob.identity, bob.keys, 'classic');
    await expect(engine.commit(hybrid, { add: [classicKp.publicBytes] })).rejects.toMatchObject({ code: 'SUITE_UNSUPPORTED' });
    const classic = await engine.createGroup(newConversationId(), alice.identity, alice.keys, 'classic');
    const hybridKp = await engine.createKeyPackage(bob.identity, bob.keys, 'pq-hybrid');
    await expect(engine.commit(classic, { add: [hybridKp.publicBytes] })).rejects.toMatchObject({ code: 'SUITE_UNSUPPORTED' });
    // A Welcome of one suite cannot be joined with a KeyPackage of the other.
    const welcome = (await engine.commit(classic, { add: [classicKp.publicBytes] })).welcome!;
    await expect(engine.join(welcome, { publicBytes: hybridKp.publicBytes, privateBytes: hybridKp.privateBytes })).rejects.toMatchObject({ code: 'SUITE_UNSUPPORTED' });
  });
});
