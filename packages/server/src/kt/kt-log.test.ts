// The server's key-transparency log: two nodes on one store building the same epoch at once — the store keeps the
// first, the other undoes its own build exactly and follows; both then answer with the same head and proofs.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeSearchResponse, encodeSearchResponse, newDeviceId, parseUserId, verifySearch, vrfPublicKey } from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';
import { openSqliteStore } from '../store/sqlite.js';
import { KtLog } from './kt-log.js';

const h = (n: number) => new Uint8Array(32).fill(n);

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
});
