#!/usr/bin/env node
// Writes the fuzz seed corpus (test/fuzz/corpus/<target>/*.bin) from a real run: a server on 127.0.0.1:0, two
// enrolled devices, a chat, a mail, a file; every decoder's seeds are bytes the real code produced. Run after
// `npm run build`; commit what it writes. Deterministic content, fresh keys each run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv } from 'node:crypto';
import WebSocket from 'ws';
import { startServer } from '@sealpost/server';
import { SealpostClient, HttpApi, ProfileStore } from '@sealpost/client';
import {
  chunkAad,
  chunkNonce,
  decodeCbor,
  encodeAccountRecord,
  encodeKtRestart,
  encodeIntakeRecord,
  encodeSealedIntake,
  encodeContent,
  encodeConversationInfo,
  encodeFrame,
  encodeLinkBundle,
  encodeOrgCommand,
  fromBase64Url,
  limits,
  newBlobId,
  newConversationId,
  newDeviceId,
  newMessageId,
} from '@sealpost/protocol';

const root = join(import.meta.dirname, '..', 'test', 'fuzz', 'corpus');
const seeds = new Map();
const add = (target, bytes) => {
  if (!seeds.has(target)) seeds.set(target, []);
  seeds.get(target).push(new Uint8Array(bytes));
};

const tmp = mkdtempSync(join(tmpdir(), 'sealpost-corpus-'));
const server = await startServer({ dataDir: join(tmp, 'server'), host: '127.0.0.1', port: 0, domain: 'localhost', logLevel: 'silent' });
try {
  const token = readFileSync(server.adminTokenFile, 'utf8').trim();
  const admin = new HttpApi(server.url);
  const enroll = async (name) => {
    const { user, activationCode } = await admin.request('POST', '/v1/admin/users', { user: name }, { admin: token });
    return SealpostClient.enroll({ server: server.url, user, code: activationCode, profile: join(tmp, name) });
  };
  const alice = await enroll('alice');
  const bob = await enroll('bob');
  const file = join(tmp, 'note.txt');
  writeFileSync(file, 'a small attachment\n'.repeat(50));
  const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'hello bob', { files: [file] });
  await alice.sendMail({ to: ['bob@localhost'], subject: 'Plan', text: 'Body of the mail', html: '<p>Body</p>' });

  // What bob's queue holds, fetched raw: server frames, and MLS Welcome / commit / application messages.
  // Signed in but not synced: the queue still holds the Welcomes and the messages.
  await bob.verifyUser('alice@localhost');
  const store = ProfileStore.open(join(tmp, 'bob'), { create: false });
  const bobToken = store.getMetaText('session_token');
  store.close();
  await bob.close();
  await alice.send({ conversation }, 'while bob is away');
  const frames = await new Promise((resolve, reject) => {
    const got = [];
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/ws`);
    ws.on('open', () => ws.send(encodeFrame({ t: 'auth', token: bobToken })));
    ws.on('message', (d) => {
      got.push(new Uint8Array(d));
      if (got.length === 1) ws.send(encodeFrame({ t: 'fetch', r: 1, after: 0, limit: 50 }));
      else ws.close();
    });
    ws.on('close', () => resolve(got));
    ws.on('error', reject);
  });
  for (const f of frames) add('server-frame', f);
  const batch = decodeCbor(frames[1], 8 * 1024 * 1024, 'seed');
  for (const item of batch.items ?? []) add('mls-message', item.p);

  // Directory and key transparency, as a device sees them.
  const auth = { authorization: `Bearer ${bobToken}` };
  const dl = await (await fetch(`${server.url}/v1/users/alice@localhost/devices`, { headers: auth })).json();
  add('device-list', fromBase64Url(dl.deviceList.body));
  const search = await (await fetch(`${server.url}/v1/kt/search/alice@localhost`, { headers: auth })).json();
  add('kt-search', fromBase64Url(search.proof));
  const absent = await (await fetch(`${server.url}/v1/kt/search/nobody@localhost`, { headers: auth })).json();
  add('kt-search', fromBase64Url(absent.proof));
  const monitor = await (await fetch(`${server.url}/v1/kt/monitor/alice@localhost?from=1`, { headers: auth })).json();
  add('kt-monitor', fromBase64Url(monitor.proof));
  const claim = await (
    await fetch(`${server.url}/v1/keypackages/claim`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ users: ['alice@localhost'] }) })
  ).json();
  for (const k of claim.keyPackages) add('key-package', fromBase64Url(k.keyPackage));

  // Client frames and the structures inside messages, from their encoders.
  const c = newConversationId();
  add('client-frame', encodeFrame({ t: 'auth', token: 'x'.repeat(43) }));
  add('client-frame', encodeFrame({ t: 'send', r: 7, c, e: 3, id: newMessageId(), p: new Uint8Array(200).fill(1), b: [newBlobId()] }));
  add('client-frame', encodeFrame({ t: 'commit', r: 8, c, e: 3, id: newMessageId(), p: new Uint8Array(300), w: new Uint8Array(100), add: [newDeviceId()], remove: [newDeviceId()] }));
  add('client-frame', encodeFrame({ t: 'fetch', r: 9, after: 10, limit: limits.maxFetchBatch }));
  add('client-frame', encodeFrame({ t: 'ack', seqs: [1, 2, 3] }));
  const sentAt = 1_700_000_000_000;
  add('content', encodeContent({ v: 1, type: 'text', id: newMessageId(), sentAt, text: 'hello', attachments: [] }));
  add('content', encodeContent({
    v: 1, type: 'mail', id: newMessageId(), sentAt, messageId: '<a@localhost>', references: ['<b@localhost>'], inReplyTo: '<b@localhost>',
    from: 'alice@localhost', to: ['bob@localhost'], cc: [], subject: 'Plan', text: 'Body', html: '<p>Body</p>', attachments: [],
  }));
  add('content', encodeConversationInfo({ v: 1, kind: 'mail' }));
  add('content', encodeContent({ v: 1, type: 'rename', id: newMessageId(), sentAt, name: 'Quarterly plan' }));
  add('kt-restart', encodeKtRestart({ v: 1, domain: 'localhost', at: sentAt, reason: 'restored from a backup', head: { size: 12, root: new Uint8Array(32).fill(5) } }));
  // Outside mail as the gateway seals it (mail/intake.ts): the record, and its sealed form on the queue.
  const intake = { mailFrom: 'carol@outside.example', rcptTo: 'alice@localhost', receivedAt: sentAt, received: 'Received: from x ([127.0.0.1])\r\n', authResults: 'Authentication-Results: localhost; spf=none\r\n' };
  add('intake-record', encodeIntakeRecord({ ...intake, body: { kind: 'inline', raw: new TextEncoder().encode('Subject: hi\r\n\r\nhello\r\n') } }));
  add('intake-record', encodeIntakeRecord({ ...intake, body: { kind: 'blob', blob: newBlobId(), key: new Uint8Array(32).fill(3), size: 3 * 1024 * 1024, chunkSize: 1024 * 1024 } }));
  add('intake-sealed', encodeSealedIntake({ enc: new Uint8Array(32).fill(1), ct: new Uint8Array(200).fill(2) }));
  add('account-record', encodeAccountRecord({ accountKey: new Uint8Array(32).fill(3), deviceListVersion: 2, deviceListHash: new Uint8Array(32).fill(4) }));
  add('org-command', encodeOrgCommand({ kind: 'wipe', device: newDeviceId(), user: 'bob@localhost', issuedAt: sentAt }));
  add('org-command', encodeOrgCommand({ kind: 'remove-device', device: newDeviceId(), user: 'bob@localhost', issuedAt: sentAt }));
  add('link-bundle', encodeLinkBundle({
    accountPublic: new Uint8Array(32).fill(1), accountPrivate: new Uint8Array(32).fill(2), conversations: [c],
    history: [{ conversation: c, id: newMessageId(), senderUser: 'alice@localhost', senderDevice: newDeviceId(), sentAt, kind: 'text', content: JSON.stringify({ text: 'hi' }) }],
  }));
  // File chunks as the file cipher seals them (AES-256-GCM, the fuzz target's fixed key), final and not.
  const key = new Uint8Array(32).fill(9);
  for (const [index, final, size] of [[0, true, 100], [0, true, 0], [0, false, 4096]]) {
    const c = createCipheriv('aes-256-gcm', key, chunkNonce(index));
    c.setAAD(chunkAad(index, final));
    const body = c.update(new Uint8Array(size).fill(0x61));
    c.final();
    if (final) add('file-chunk', Buffer.concat([body, c.getAuthTag()]));
    else add('file-chunk', Buffer.concat([body, c.getAuthTag()]).subarray(0, 64));
  }
  await alice.close();
} finally {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
}

// Every seed is also a CBOR seed (the generic decoder all the others sit on), except the MLS ones (TLS encoding).
for (const [t, list] of [...seeds]) if (t !== 'mls-message' && t !== 'key-package') for (const b of list) add('cbor', b);
rmSync(root, { recursive: true, force: true });
for (const [target, list] of seeds) {
  mkdirSync(join(root, target), { recursive: true });
  list.forEach((b, i) => writeFileSync(join(root, target, `${String(i).padStart(3, '0')}.bin`), b));
  console.log(`${target}: ${list.length} seeds`);
}
