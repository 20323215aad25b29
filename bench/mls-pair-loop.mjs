// N alternating encrypt/decrypt pairs of 1 KiB in a 2-member group with our provider, and nothing else: for counting
// instructions, which unlike time does not depend on what else the machine is doing (docs/performance.md, MLS):
//   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null node bench/mls-pair-loop.mjs 500
//   … the same with 4500; (instructions at 4500 − at 500) / 4000 = instructions per pair (±2 % between runs: JIT and
//   garbage collection differ). Needs `npm run build`.
import { createApplicationMessage, createCommit, createGroup, defaultCapabilities, defaultLifetime, emptyPskIndex, generateKeyPackage, joinGroup, processPrivateMessage } from 'ts-mls';
import { nodeCiphersuite, nodeHybridCiphersuite } from '../packages/crypto/dist/index.js';
// The suite is the second argument: classic (default) or pq-hybrid.
const cs = process.argv[3] === 'pq-hybrid' ? await nodeHybridCiphersuite() : nodeCiphersuite();
const cred = (i) => ({ credentialType: 'basic', identity: new TextEncoder().encode(`user${i}@bench/dev${i}`) });
const k0 = await generateKeyPackage(cred(0), defaultCapabilities(), defaultLifetime, [], cs);
const k1 = await generateKeyPackage(cred(1), defaultCapabilities(), defaultLifetime, [], cs);
let a = await createGroup(new Uint8Array(16), k0.publicPackage, k0.privatePackage, [], cs);
const add = await createCommit({ state: a, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: k1.publicPackage } }], ratchetTreeExtension: true });
a = add.newState;
let b = await joinGroup(add.welcome, k1.publicPackage, k1.privatePackage, emptyPskIndex, cs);
const payload = new Uint8Array(1024);
const n = Number(process.argv[2] ?? 1000);
for (let i = 0; i < n; i++) { const e = await createApplicationMessage(a, payload, cs); a = e.newState; b = (await processPrivateMessage(b, e.privateMessage, emptyPskIndex, cs)).newState; }
