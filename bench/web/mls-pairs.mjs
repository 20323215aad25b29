// MLS encrypt+decrypt pairs per second between two members, 1 KiB messages, with the crypto provider given: the
// same loop for the page (the app's provider, bench/web/page.ts) and for Node (node:crypto, bench/web.mjs).
import {
  createApplicationMessage, createCommit, createGroup, defaultCapabilities, defaultLifetime, emptyPskIndex, generateKeyPackage, joinGroup, processPrivateMessage,
} from 'ts-mls';

const cred = (i) => ({ credentialType: 'basic', identity: new TextEncoder().encode(`user${i}@bench/dev${i}`) });

export async function mlsPairs(cs, n) {
  const ka = await generateKeyPackage(cred(0), defaultCapabilities(), defaultLifetime, [], cs);
  const kb = await generateKeyPackage(cred(1), defaultCapabilities(), defaultLifetime, [], cs);
  let a = await createGroup(new Uint8Array(16), ka.publicPackage, ka.privatePackage, [], cs);
  const add = await createCommit({ state: a, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: kb.publicPackage } }], ratchetTreeExtension: true });
  a = add.newState;
  let b = await joinGroup(add.welcome, kb.publicPackage, kb.privatePackage, emptyPskIndex, cs);
  const payload = new Uint8Array(1024);
  const pair = async () => {
    const e = await createApplicationMessage(a, payload, cs);
    a = e.newState;
    b = (await processPrivateMessage(b, e.privateMessage, emptyPskIndex, cs)).newState;
  };
  for (let i = 0; i < 200; i++) await pair(); // warm-up: the JIT compiles the hot path first
  const t = performance.now();
  for (let i = 0; i < n; i++) await pair();
  return n / ((performance.now() - t) / 1000);
}
