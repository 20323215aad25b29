// Files as users expect them: sent in chat, large files byte-identical, interrupted uploads resumed, quotas and
// size limits with clear errors, and blobs deleted from the server once no device refers to them.
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SealpostClient, type ChatMessage } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest('hex');
}

/** A file of `mib` MiB of random bytes, written in 1 MiB steps. */
function bigFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  for (let i = 0; i < mib; i++) writeSync(fd, randomBytes(1024 * 1024));
  closeSync(fd);
}

const blobFiles = (dataDir: string) =>
  readdirSync(join(dataDir, 'blobs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.startsWith('b_'));

describe('files', () => {
  it('sends a 50 MiB file in chat that arrives byte-identical', async () => {
    server = await startTestServer();
    const dir = tempDir('files');
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;
    const src = join(dir, 'video.mp4');
    bigFile(src, 50);
    const sent = await alice.send({ to: ['bob@localhost'] }, 'the recording', { files: [src] });
    const [msg] = (await bob.sync()) as ChatMessage[];
    expect(msg).toMatchObject({ id: sent.id, text: 'the recording', attachments: [{ name: 'video.mp4', size: 50 * 1024 * 1024, type: 'video/mp4' }] });
    const out = join(dir, 'copy.mp4');
    const progress: number[] = [];
    await bob.saveAttachment(msg!.attachments![0]!.id, out, { onProgress: (d) => progress.push(d) });
    expect(await sha256(out)).toBe(await sha256(src));
    expect(progress.at(-1)).toBe(50 * 1024 * 1024);
    expect(alice.messages(sent.conversation)[0]!.attachments).toEqual(msg!.attachments);
  });

  it('resumes an interrupted upload from the last stored part', async () => {
    server = await startTestServer();
    const dir = tempDir('resume');
    const a = await server.enroll('alice', { testHooks: { afterUploadPart: (part) => { if (part === 0) throw new Error('simulated network loss'); } } });
    const bob = (await server.enroll('bob')).client;
    const src = join(dir, 'big.bin');
    bigFile(src, 20);
    await expect(a.client.send({ to: ['bob@localhost'] }, 'big one', { files: [src] })).rejects.toThrow('simulated network loss');
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    const partial = db.prepare('SELECT id, received, complete FROM blobs').all() as { id: string; received: number; complete: number }[];
    expect(partial).toHaveLength(1);
    expect(partial[0]!.received).toBeGreaterThan(0);
    expect(partial[0]!.complete).toBe(0);
    await a.client.close();

    const alice = await SealpostClient.open(a.profile);
    const progress: number[] = [];
    await alice.send({ to: ['bob@localhost'] }, 'big one', { files: [src], onProgress: (d) => progress.push(d) });
    // The second attempt started where the first stopped and finished the same blob.
    expect(progress[0]).toBe(8 * 1024 * 1024);
    expect(db.prepare('SELECT id, complete FROM blobs').all()).toEqual([{ id: partial[0]!.id, complete: 1 }]);
    db.close();
    const [msg] = (await bob.sync()) as ChatMessage[];
    const out = join(dir, 'out.bin');
    await bob.saveAttachment(msg!.attachments![0]!.id, out);
    expect(await sha256(out)).toBe(await sha256(src));
    await alice.close();
  });

  it('enforces the maximum file size and the per-user quota with stable codes', async () => {
    server = await startTestServer({ maxBlobBytes: 3 * 1024 * 1024, userQuotaBytes: 5 * 1024 * 1024 });
    const dir = tempDir('quota');
    const alice = (await server.enroll('alice')).client;
    await server.enroll('bob');
    const big = join(dir, 'big.bin');
    bigFile(big, 4);
    await expect(alice.send({ to: ['bob@localhost'] }, 'x', { files: [big] })).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' });
    const two = join(dir, 'two.bin');
    bigFile(two, 2);
    await alice.send({ to: ['bob@localhost'] }, 'one', { files: [two] });
    await alice.send({ to: ['bob@localhost'] }, 'two', { files: [two] });
    await expect(alice.send({ to: ['bob@localhost'] }, 'three', { files: [two] })).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: expect.stringContaining('quota'),
    });
  });

  it('deletes a blob from the server when no device refers to it any more', async () => {
    server = await startTestServer();
    const dir = tempDir('gc');
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;
    const src = join(dir, 'notes.txt');
    writeFileSync(src, 'meeting notes');
    const sent = await alice.send({ to: ['bob@localhost'] }, 'notes', { files: [src] });
    await bob.sync();
    expect(blobFiles(server.dataDir)).toHaveLength(1);
    await alice.deleteMessage(sent.conversation, sent.id);
    expect(blobFiles(server.dataDir)).toHaveLength(1); // Bob still has it
    await bob.saveAttachment(bob.messages()[0]!.attachments![0]!.id, join(dir, 'saved.txt'));
    await bob.deleteMessage(sent.conversation, sent.id);
    expect(blobFiles(server.dataDir)).toHaveLength(0);
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 0 });
    db.close();
    expect(existsSync(join(dir, 'saved.txt'))).toBe(true);
  });

  it('finishes an upload whose file was complete when the server crashed before recording it', async () => {
    server = await startTestServer();
    const dir = tempDir('crash');
    const a = await server.enroll('alice', { testHooks: { afterUploadPart: (part) => { if (part === 1) throw new Error('simulated crash after the last part'); } } });
    const bob = (await server.enroll('bob')).client;
    const src = join(dir, 'two-parts.bin');
    bigFile(src, 10); // two parts of 8 chunks
    await expect(a.client.send({ to: ['bob@localhost'] }, 'file', { files: [src] })).rejects.toThrow('simulated crash');
    // As if the server died after renaming the finished file but before its store recorded the last part: the
    // partial file is gone, and a resume at the recorded offset used to fail for a day (UPLOAD_OFFSET_MISMATCH).
    const db = new Database(join(server.dataDir, 'sealpost.db'));
    db.prepare('UPDATE blobs SET complete = 0, received = ?').run(8 * (1024 * 1024 + 16));
    const { id } = db.prepare('SELECT id FROM blobs').get() as { id: string };
    db.close();
    await a.client.close();
    const alice = server.track(await SealpostClient.open(a.profile));
    await alice.send({ to: ['bob@localhost'] }, 'file', { files: [src] });
    const [msg] = (await bob.sync()) as ChatMessage[];
    const out = join(dir, 'out.bin');
    await bob.saveAttachment(msg!.attachments![0]!.id, out);
    expect(await sha256(out)).toBe(await sha256(src));
    // The upload the crash interrupted was recognised as complete and released, not left on alice's quota.
    const after = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    expect(after.prepare('SELECT COUNT(*) AS n FROM blobs WHERE id = ?').get(id)).toEqual({ n: 0 });
    after.close();
  });

  it("a file its uploader released no longer counts against the uploader's quota", async () => {
    server = await startTestServer({ userQuotaBytes: 5 * 1024 * 1024 });
    const dir = tempDir('quota-release');
    const alice = (await server.enroll('alice')).client;
    await server.enroll('bob'); // never syncs: holds his grants for ever
    const two = join(dir, 'two.bin');
    bigFile(two, 2);
    const first = await alice.send({ to: ['bob@localhost'] }, 'one', { files: [two] });
    await alice.send({ to: ['bob@localhost'] }, 'two', { files: [two] });
    await alice.deleteMessage(first.conversation, first.id);
    await alice.send({ to: ['bob@localhost'] }, 'three', { files: [two] });
  });
});
