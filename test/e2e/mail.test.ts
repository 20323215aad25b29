// Mail as users expect it: To, Cc and Bcc; threads; reply, reply-all and forward; read state; attachments.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MailSummary, SealpostClient } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
let dir: string;
beforeEach(async () => {
  server = await startTestServer();
  dir = tempDir('mail');
});
afterEach(async () => {
  await server.close();
});

const mails = (r: unknown[]) => r.filter((x): x is MailSummary => (x as { type: string }).type === 'mail');

describe('mail end to end', () => {
  it('delivers To, Cc and Bcc; the Bcc recipient is invisible to everyone else; threads follow replies and forwards', async () => {
    const [alice, bob, carol, dave, erin] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => server.enroll(n)));
    const A = alice!.client, B = bob!.client, C = carol!.client, D = dave!.client, E = erin!.client;
    const report = join(dir, 'report.pdf');
    const bytes = randomBytes(300_000);
    writeFileSync(report, bytes);

    const sent = await A.sendMail({
      to: ['bob@localhost'],
      cc: ['carol@localhost'],
      bcc: ['dave@localhost'],
      subject: 'Quarterly numbers',
      text: 'See attached.',
      html: '<p>See attached.</p>',
      attach: [report],
    });

    const atBob = mails(await B.sync());
    const atCarol = mails(await C.sync());
    const atDave = mails(await D.sync());
    for (const got of [atBob, atCarol]) {
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ id: sent.id, thread: sent.thread, from: 'alice@localhost', to: ['bob@localhost'], cc: ['carol@localhost'], subject: 'Quarterly numbers', unread: true });
      expect(got[0]!.bcc).toBeUndefined();
      expect(got[0]!.attachments).toEqual([{ id: expect.stringMatching(/^b_/), name: 'report.pdf', size: 300_000, type: 'application/pdf' }]);
    }
    // What Bob and Carol decrypted never mentions Dave.
    expect(JSON.stringify(B.readMail(sent.id))).not.toContain('dave');
    expect(JSON.stringify(C.readMail(sent.id))).not.toContain('dave');
    // Dave got his own copy, in his own thread, which tells him he was Bcc'd.
    expect(atDave).toHaveLength(1);
    expect(atDave[0]).toMatchObject({ from: 'alice@localhost', to: ['bob@localhost'], cc: ['carol@localhost'], bcc: ['dave@localhost'], subject: 'Quarterly numbers' });
    expect(atDave[0]!.thread).not.toBe(sent.thread);
    expect(atDave[0]!.messageId).toBe(atBob[0]!.messageId);
    // Alice's sent folder has it once, with the Bcc she chose.
    expect(A.mailList('sent')).toEqual([expect.objectContaining({ id: sent.id, thread: sent.thread, bcc: ['dave@localhost'], unread: false })]);
    expect(A.mailList('inbox')).toEqual([]);

    // Read state.
    expect(B.mailList('inbox')[0]!.unread).toBe(false); // readMail above marked it
    expect(D.mailList('inbox')[0]!.unread).toBe(true);
    const full = D.readMail(atDave[0]!.id);
    expect(full).toMatchObject({ text: 'See attached.', html: '<p>See attached.</p>', unread: false });

    // The attachment arrives byte-identical.
    const saved = join(dir, 'saved.pdf');
    await B.saveAttachment(atBob[0]!.attachments[0]!.id, saved);
    expect(readFileSync(saved).equals(bytes)).toBe(true);

    // Reply to the sender alone: a new thread, linked by In-Reply-To and References.
    const reply = await B.replyMail(sent.id, { text: 'Thanks, Alice.' });
    expect(reply.thread).not.toBe(sent.thread);
    const atAlice = mails(await A.sync());
    expect(atAlice).toEqual([
      expect.objectContaining({ id: reply.id, thread: reply.thread, from: 'bob@localhost', to: ['alice@localhost'], cc: [], subject: 'Re: Quarterly numbers', inReplyTo: atBob[0]!.messageId, references: [atBob[0]!.messageId] }),
    ]);
    expect(mails(await C.sync())).toEqual([]);

    // Reply-all stays in the thread and reaches everyone but the Bcc recipient.
    const all = await C.replyMail(sent.id, { all: true, text: 'Looks good.' });
    expect(all.thread).toBe(sent.thread);
    for (const c of [A, B]) {
      expect(mails(await c.sync())).toEqual([
        expect.objectContaining({ id: all.id, thread: sent.thread, from: 'carol@localhost', to: ['alice@localhost', 'bob@localhost'], cc: [], subject: 'Re: Quarterly numbers' }),
      ]);
    }
    expect(mails(await D.sync())).toEqual([]);

    // Forward, with the attachment, to someone new.
    const fwd = await B.forwardMail(sent.id, { to: ['erin@localhost'], text: 'FYI' });
    const atErin = mails(await E.sync());
    expect(atErin).toEqual([expect.objectContaining({ id: fwd.id, thread: fwd.thread, from: 'bob@localhost', subject: 'Fwd: Quarterly numbers' })]);
    expect(E.readMail(fwd.id).text).toMatch(/^FYI\n\n---------- Forwarded message ----------\nFrom: alice@localhost/);
    const erinCopy = join(dir, 'erin.pdf');
    await E.saveAttachment(atErin[0]!.attachments[0]!.id, erinCopy);
    expect(readFileSync(erinCopy).equals(bytes)).toBe(true);

    // A mail thread is a conversation of kind mail.
    expect(B.conversations().filter((c) => c.kind === 'mail').map((c) => c.id).sort()).toEqual([sent.thread, reply.thread, fwd.thread].sort());
  });

  it('refuses bad input with a clear error and sends nothing', async () => {
    const alice = (await server.enroll('alice')).client;
    await server.enroll('bob');
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'x');
    const before = alice.conversations().length;
    const cases: [Parameters<SealpostClient['sendMail']>[0], string][] = [
      [{ to: ['bob@localhost'], subject: 's', text: 'x'.repeat(300 * 1024) }, 'PAYLOAD_TOO_LARGE'],
      [{ to: Array.from({ length: 101 }, (_, i) => `u${i}@localhost`), subject: 's', text: 'hi' }, 'TOO_MANY_RECIPIENTS'],
      [{ to: ['bob@localhost', 'nobody@localhost'], subject: 's', text: 'hi' }, 'USER_NOT_FOUND'],
      [{ to: ['bob@localhost'], subject: 's', text: 'hi', attach: [file, join(dir, 'missing.pdf')] }, 'FILE_NOT_FOUND'],
      [{ to: ['not an address'], subject: 's', text: 'hi' }, 'INVALID_INPUT'],
      [{ to: ['alice@localhost'], subject: 's', text: 'hi' }, 'INVALID_INPUT'],
    ];
    for (const [draft, code] of cases) await expect(alice.sendMail(draft)).rejects.toMatchObject({ code });
    expect(alice.conversations()).toHaveLength(before);
    expect(alice.mailList('sent')).toEqual([]);
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM messages').get()).toEqual({ n: 0 });
    db.close();
    expect(() => alice.readMail('nosuchmail')).toThrow(expect.objectContaining({ code: 'MAIL_NOT_FOUND' }));
  });
});
