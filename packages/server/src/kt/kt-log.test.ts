// The server's key-transparency log: two nodes on one store building the same epoch at once — the store keeps the
// first, the other undoes its own build exactly and follows; both then answer with the same head and proofs.
// Monitoring: every version of a label from one on is proven, and an answer with a version left out or changed
// is refused.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  decodeMonitorResponse,
  decodeSearchResponse,
  encodeMonitorResponse,
  encodeSearchResponse,
  newDeviceId,
  parseUserId,
  verifyMonitor,
  verifySearch,
  vrfInput,
  vrfOutput,
  vrfPublicKey,
} from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';
import { openSqliteStore } from '../store/sqlite.js';
import { KtLog } from './kt-log.js';

const h = (n: number) => new Uint8Array(32).fill(n);

/** A log over an in-memory store, with a fresh head-signing key and the VRF key `vrfSecret`. */
async function newLog(vrfSecret: Uint8Array) {
  const store = openSqliteStore(':memory:');
  const cs = nodeCiphersuite();
  const { publicKey, signKey } = await cs.signature.keygen();
  const keys = { signing: { publicKey, privateKey: signKey }, vrf: { secretKey: vrfSecret, publicKey: vrfPublicKey(vrfSecret) } };
  return { store, cs, keys, kt: new KtLog(store, cs, keys, { now: () => Date.now() }, pino({ level: 'silent' })) };
}

describe('KtLog', () => {
  it('two nodes racing for one epoch end with one log', async () => {
    const store = openSqliteStore(':memory:');
    const cs = nodeCiphersuite();
    const { publicKey, signKey } = await cs.signature.keygen();
    const vrfSecret = h(42);
    const keys = { signing: { publicKey, privateKey: signKey }, vrf: { secretKey: vrfSecret, publicKey: vrfPublicKey(vrfSecret) } };
    const clock = { now: () => Date.now() };
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
    const a = new KtLog(store, cs, keys, clock, log);
    const b = new KtLog(store, cs, keys, clock, log);
    const enroll = async (name: string) => {
      const user = parseUserId(`${name}@localhost`);
      await store.createUser({ user, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: Date.now() + 60_000 });
      await store.enroll({
        user, codeHash: h(1), now: 2, maxAttempts: 3, device: { id: newDeviceId(), name: undefined, signatureKey: h(9) },
        deviceList: { version: 1, accountKey: h(8), body: new TextEncoder().encode(name), signature: h(6) }, keyPackages: [], lastResort: { ref: `${name}-lr`, data: h(5) },
      });
    };
    await enroll('alice');
    await a.publish();
    await b.catchUp();
    for (const name of ['bob', 'carol', 'dave']) await enroll(name);
    const [na, nb] = await Promise.all([a.publish(), b.publish()]);
    expect([na, nb].sort()).toEqual([0, 3]); // one built the epoch, the other undid its build and followed
    expect(logged.join('')).toMatch(/another node published this epoch first/);
    await a.catchUp();
    await b.catchUp();
    expect(a.treeHead).toEqual(b.treeHead);
    const keysPublic = { signatureKey: publicKey, vrfKey: keys.vrf.publicKey };
    for (const log of [a, b]) {
      const answer = decodeSearchResponse(encodeSearchResponse(await log.search('carol@localhost', 1)));
      const v = await verifySearch(cs.signature, keysPublic, 'carol@localhost', answer);
      expect(v).toMatchObject({ kind: 'ok', version: 1 });
    }
    await store.close();
  });

  it('computes each label\'s next index ahead and remembers it in the store, where any node finds it', async () => {
    const { store, kt } = await newLog(h(3));
    const alice = parseUserId('alice@localhost');
    await store.createUser({ user: alice, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: Date.now() + 60_000 });
    kt.prepare(alice); // as when an admin adds the user
    const remembered = async (version: number) => {
      for (let i = 0; i < 200; i++) {
        const [r] = await store.ktNextIndexes([alice]);
        if (r?.version === version) return r.index;
        await new Promise((res) => setTimeout(res, 10));
      }
      throw new Error(`no index for version ${version}`);
    };
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(await remembered(1))).toBe(hex(vrfOutput(h(3), vrfInput(alice, 1)).subarray(0, 32)));
    await store.enroll({
      user: alice, codeHash: h(1), now: 2, maxAttempts: 3, device: { id: newDeviceId(), name: undefined, signatureKey: h(9) },
      deviceList: { version: 1, accountKey: h(8), body: h(8), signature: h(6) }, keyPackages: [], lastResort: { ref: 'lr', data: h(5) },
    });
    await kt.publish();
    expect(hex((await store.ktVersions(alice, 1, 1))[0]!.index)).toBe(hex(vrfOutput(h(3), vrfInput(alice, 1)).subarray(0, 32)));
    expect(hex(await remembered(2))).toBe(hex(vrfOutput(h(3), vrfInput(alice, 2)).subarray(0, 32)));
    await kt.close();
    await store.close();
  });

  it('monitor answers prove every version from the one asked; a gap or a changed value is refused', async () => {
    const { store, cs, keys, kt } = await newLog(h(7));
    const alice = parseUserId('alice@localhost');
    const enroll = async (code: Uint8Array, accountKey: Uint8Array) => {
      await store.enroll({
        user: alice, codeHash: code, now: 2, maxAttempts: 3, device: { id: newDeviceId(), name: undefined, signatureKey: h(9) },
        deviceList: { version: 1, accountKey, body: accountKey, signature: h(6) }, keyPackages: [], lastResort: { ref: `lr-${code[0]}`, data: h(5) },
      });
      await kt.publish();
    };
    await store.createUser({ user: alice, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: Date.now() + 60_000 });
    await enroll(h(1), h(8)); // version 1
    await store.resetUser(alice, [], { codeHash: h(2), expiresAt: Date.now() + 60_000 }, 3);
    await kt.publish(); // version 2: retired
    await enroll(h(2), h(10)); // version 3
    const pub = { signatureKey: keys.signing.publicKey, vrfKey: keys.vrf.publicKey };
    const answer = async (from: number) => decodeMonitorResponse(encodeMonitorResponse(await kt.monitor(alice, from, undefined)));

    const all = await verifyMonitor(cs.signature, pub, alice, 1, await answer(1));
    expect(all).toMatchObject({ kind: 'ok', latest: 3, complete: true });
    expect((all as { versions: { version: number }[] }).versions.map((v) => v.version)).toEqual([1, 2, 3]);
    const some = await verifyMonitor(cs.signature, pub, alice, 3, await answer(3));
    expect((some as { versions: { version: number }[] }).versions.map((v) => v.version)).toEqual([3]);

    const gap = await answer(1);
    gap.earlier.splice(1, 1);
    expect(await verifyMonitor(cs.signature, pub, alice, 1, gap)).toEqual({ kind: 'rejected', reason: 'missing-version' });
    const changed = await answer(1);
    changed.earlier[1]!.value = changed.earlier[0]!.value;
    expect(await verifyMonitor(cs.signature, pub, alice, 1, changed)).toEqual({ kind: 'rejected', reason: 'commitment-mismatch' });
    const swapped = await answer(1);
    swapped.earlier.reverse();
    expect(await verifyMonitor(cs.signature, pub, alice, 1, swapped)).toEqual({ kind: 'rejected', reason: 'missing-version' });
    expect(await verifyMonitor(cs.signature, pub, alice, 2, await answer(1))).toEqual({ kind: 'rejected', reason: 'wrong-range' });
    await store.close();
  });
});
