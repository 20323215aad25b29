// Outside mail end to end: real outside senders (swaks, curl smtp://, GnuPG) into the SMTP gateway, and Sealpost
// users writing out through the outbound queue to a receiving MTA on loopback, with DKIM checked on arrival.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimSign, dkimVerify } from 'mailauth';
import { generateKeyPairSync } from 'node:crypto';
import { filesUnder, startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { fixedDns, gpgIn, makeGpgKey, run, startSink, until, type Sink } from '../mail-peers.js';

let server: TestServer;
let alice: TestClient;
let sink: Sink;
let smtpPort: number;
let gnupg: string;
let gpg: (args: string[], input?: string) => Promise<string>;
const dns: Record<string, string[][]> = {};
const resolver = fixedDns(dns as never);

const swaks = (args: string[]) => run('swaks', ['--server', `127.0.0.1:${smtpPort}`, '--silent', '1', ...args]).then(
  (r) => ({ code: 0, out: r.stdout + r.stderr }),
  (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
);

/** GnuPG's own WKD hash (gpg-wks-client), then the key fetched from the Web Key Directory with curl and imported. */
async function importAliceFromWkd(): Promise<void> {
  const { stdout } = await run('/usr/lib/gnupg/gpg-wks-client', ['--print-wkd-hash', 'alice@localhost']);
  const keyFile = join(gnupg, 'alice.pgp');
  await run('curl', ['-sf', '-o', keyFile, `${server.url}/.well-known/openpgpkey/hu/${stdout.trim().split(/\s+/)[0]}?l=alice`]);
  await gpg(['--import', keyFile]);
}

async function inbox(subject: string) {
  return until(async () => {
    await alice.client.sync();
    return alice.client.mailList('inbox').find((m) => m.subject === subject);
  }, 15_000, `mail "${subject}"`);
}

beforeAll(async () => {
  sink = await startSink({ refuse: (r) => (r.startsWith('nobody@') ? 550 : undefined) });
  server = await startTestServer({
    smtp: { host: '127.0.0.1', port: 0, maxBytes: 5 * 1024 * 1024, resolver },
    outbound: { routes: { 'outside.example': `127.0.0.1:${sink.port}` }, resolver, retryMs: [200], giveUpMs: 60_000 },
  });
  smtpPort = server.started.smtpPort!;
  alice = await server.enroll('alice');
  gnupg = mkdtempSync(join(tmpdir(), 'sealpost-gnupg-'));
  gpg = gpgIn(gnupg);
  await makeGpgKey(gpg, 'Bob Outside <bob@outside.example>', 'bob@outside.example');
}, 120_000);

afterAll(async () => {
  await server?.close();
  await sink?.close();
});

describe('inbound: outside senders into the gateway', () => {
  it('a message from swaks arrives sealed, is shown on the device, and its text is nowhere on the server', async () => {
    const marker = `MARKER${Date.now()}x7`;
    const r = await swaks(['--to', 'alice@localhost', '--from', 'carol@outside.example', '--header', `Subject: hello ${marker}`, '--body', `body ${marker}`]);
    expect(r.code).toBe(0);
    const m = await inbox(`hello ${marker}`);
    expect(m.from).toBe('carol@outside.example');
    expect(m.outside?.auth.spf).toBeDefined();
    const full = alice.client.readMail(m.id);
    expect(full.text).toContain(`body ${marker}`);
    for (const f of filesUnder(server.dataDir)) expect(readFileSync(f).includes(marker), f).toBe(false);
    expect(server.logs.join('').includes(marker)).toBe(false);
  });

  it('curl smtp:// delivers too, and a reply from outside lands in the thread of the mail it answers', async () => {
    const file = join(gnupg, 'curl.eml');
    writeFileSync(file, 'From: dave@outside.example\r\nTo: alice@localhost\r\nSubject: first\r\nMessage-ID: <root-1@outside.example>\r\n\r\nfirst\r\n');
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'dave@outside.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    const first = await inbox('first');
    writeFileSync(file, 'From: dave@outside.example\r\nTo: alice@localhost\r\nSubject: Re: first\r\nMessage-ID: <root-2@outside.example>\r\nIn-Reply-To: <root-1@outside.example>\r\n\r\nsecond\r\n');
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'dave@outside.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    const second = await inbox('Re: first');
    expect(second.thread).toBe(first.thread);
  });

  it('a 2 MB message goes through a sealed blob and opens on the device', async () => {
    const file = join(gnupg, 'big.bin');
    writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 7));
    const r = await swaks(['--to', 'alice@localhost', '--from', 'carol@outside.example', '--header', 'Subject: big one', '--body', 'see attached', '--attach', `@${file}`]);
    expect(r.code).toBe(0);
    const m = await inbox('big one');
    expect(alice.client.readMail(m.id).text).toContain('see attached');
    expect(m.outside?.attachments[0]?.size).toBe(2 * 1024 * 1024);
    const saved = join(gnupg, 'saved.bin');
    await alice.client.saveAttachment(m.outside!.attachments[0]!.id!, saved);
    expect(readFileSync(saved).equals(readFileSync(file))).toBe(true);
    // The blob was released once the device had the mail.
    expect(filesUnder(server.dataDir).filter((f) => f.includes('blobs') && !f.endsWith('.partial'))).toEqual([]);
  });

  it('GnuPG encrypts to the key served by the Web Key Directory; the device decrypts it', async () => {
    await importAliceFromWkd();
    const own = await alice.client.ownOpenpgpKey();
    const listed = await gpg(['--list-keys', '--with-colons', 'alice@localhost']);
    expect(listed).toContain(own.fingerprint);
    // RFC 3156 PGP/MIME, built by hand around gpg's output as a mail program would.
    const inner = 'Content-Type: text/plain; charset=utf-8\r\n\r\nsecret from gpg\r\n';
    const armored = await gpg(['--armor', '--encrypt', '--sign', '--recipient', 'alice@localhost', '--local-user', 'bob@outside.example', '--output', '-'], inner);
    const b = 'pgpboundary42';
    const msg = [
      'From: bob@outside.example', 'To: alice@localhost', 'Subject: encrypted hello', 'MIME-Version: 1.0',
      `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="${b}"`, '',
      `--${b}`, 'Content-Type: application/pgp-encrypted', '', 'Version: 1', '',
      `--${b}`, 'Content-Type: application/octet-stream; name="encrypted.asc"', '', armored.slice(armored.indexOf('-----BEGIN')), `--${b}--`, '',
    ].join('\r\n');
    const file = join(gnupg, 'enc.eml');
    writeFileSync(file, msg);
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'bob@outside.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    const m = await inbox('encrypted hello');
    expect(m.outside?.encrypted).toBe(true);
    expect(alice.client.readMail(m.id).text).toContain('secret from gpg');
  });

  it('a broken DKIM signature and a failing DMARC are marked in what the user sees', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    dns['TXT:s1._domainkey.forger.example'] = [[`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]];
    dns['TXT:_dmarc.forger.example'] = [['v=DMARC1; p=reject']];
    const raw = 'From: ceo@forger.example\r\nTo: alice@localhost\r\nSubject: wire the money\r\n\r\noriginal body\r\n';
    const sig = { signingDomain: 'forger.example', selector: 's1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
    const signed = await dkimSign(raw, { ...sig, signatureData: [sig] } as Parameters<typeof dkimSign>[1]);
    const tampered = signed.signatures + raw.replace('original body', 'changed body');
    const file = join(gnupg, 'forged.eml');
    writeFileSync(file, tampered);
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'ceo@forger.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    const m = await inbox('wire the money');
    expect(['fail', 'neutral']).toContain(m.outside?.auth.dkim);
    expect(m.outside?.auth.dmarc).toBe('fail');
    expect(m.outside?.warnings.join(' ')).toMatch(/DKIM.*broken/);
  });

  it('refuses clearly at the SMTP level: unknown user, relaying, too big, too many recipients', async () => {
    expect((await swaks(['--to', 'nobody@localhost', '--from', 'x@outside.example'])).out).toMatch(/550 5\.1\.1/);
    expect((await swaks(['--to', 'someone@elsewhere.example', '--from', 'x@outside.example'])).out).toMatch(/550 5\.7\.1 relaying denied/);
    const big = join(gnupg, 'too-big.txt');
    writeFileSync(big, 'y'.repeat(6 * 1024 * 1024));
    expect((await swaks(['--to', 'alice@localhost', '--from', 'x@outside.example', '--body', `@${big}`])).out).toMatch(/552 5\.3\.4/);
  });
});

describe('keys across devices and people', () => {
  it('a linked device holds the account\'s mail keys and opens outside mail too', async () => {
    const second = await server.link(alice);
    await swaks(['--to', 'alice@localhost', '--from', 'carol@outside.example', '--header', 'Subject: to both devices', '--body', 'both']);
    const m = await until(async () => {
      await second.client.sync();
      return second.client.mailList('inbox').find((x) => x.subject === 'to both devices');
    }, 15_000, 'the mail on the linked device');
    expect(second.client.readMail(m.id).text).toContain('both');
    expect((await second.client.ownOpenpgpKey()).fingerprint).toBe((await alice.client.ownOpenpgpKey()).fingerprint);
    await inbox('to both devices');
  });

  it('learns an outside sender\'s key from the Autocrypt header of their mail', async () => {
    const binary = (await run('gpg', ['--homedir', gnupg, '--export', 'bob@outside.example'], { encoding: 'buffer' })).stdout as unknown as Buffer;
    const ac = `addr=bob@outside.example; prefer-encrypt=mutual; keydata=${binary.toString('base64')}`;
    const file = join(gnupg, 'autocrypt.eml');
    writeFileSync(file, `From: bob@outside.example\r\nTo: alice@localhost\r\nSubject: with autocrypt\r\nAutocrypt: ${ac}\r\n\r\nhi\r\n`);
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'bob@outside.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    await inbox('with autocrypt');
    const fpr = (await gpg(['--list-keys', '--with-colons', 'bob@outside.example'])).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
    expect(alice.client.outsideKeys()).toContainEqual(expect.objectContaining({ address: 'bob@outside.example', fingerprint: fpr, source: 'autocrypt' }));
  });
});

describe('outbound: Sealpost users writing outside', () => {
  it('mixed recipients: the colleague gets it over MLS, the outside person a copy, and the outside reply joins the thread', async () => {
    const bob = await server.enroll('bob');
    const sent = await alice.client.sendMail({ to: ['bob@localhost', 'carol@outside.example'], subject: 'mixed', text: 'for both' }, { allowReadable: true });
    expect(sent.outside?.recipients).toEqual(['carol@outside.example']);
    await until(async () => {
      await bob.client.sync();
      return bob.client.mailList('inbox').find((m) => m.subject === 'mixed');
    }, 15_000, 'the MLS copy');
    const out = await until(() => sink.messages.find((m) => m.raw.includes('Subject: mixed')), 15_000, 'the outside copy');
    expect(out.raw.toString()).toMatch(/^To: .*bob@localhost/m);
    const file = join(gnupg, 'reply.eml');
    writeFileSync(file, `From: carol@outside.example\r\nTo: alice@localhost\r\nSubject: Re: mixed\r\nIn-Reply-To: ${sent.outside!.messageId}\r\nMessage-ID: <reply-mixed@outside.example>\r\n\r\nthanks\r\n`);
    await run('curl', ['-s', `smtp://127.0.0.1:${smtpPort}`, '--mail-from', 'carol@outside.example', '--mail-rcpt', 'alice@localhost', '--upload-file', file]);
    const reply = await inbox('Re: mixed');
    expect(reply.thread).toBe(sent.thread);
  });

  it('a readable mail needs consent, is DKIM-signed, and the outside side verifies the signature', async () => {
    await expect(alice.client.sendMail({ to: ['carol@outside.example'], subject: 'plain out', text: 'hello carol' })).rejects.toMatchObject({ code: 'OUTSIDE_MAIL_NEEDS_KEY' });
    const sent = await alice.client.sendMail({ to: ['carol@outside.example'], subject: 'plain out', text: 'hello carol' }, { allowReadable: true });
    expect(sent.outside?.encrypted).toBe(false);
    const got = await until(() => sink.messages.find((m) => m.raw.includes('plain out')), 15_000, 'delivery to the sink');
    expect(got.to).toEqual(['carol@outside.example']);
    const records = await server.adminRequest<{ records: { name: string; type: string; value: string }[] }>('GET', '/v1/admin/mail/dns');
    const dkimRecord = records.records.find((r) => r.name.includes('_domainkey'))!;
    dns[`TXT:${dkimRecord.name}`] = [[dkimRecord.value]];
    const verdict = await dkimVerify(got.raw, { resolver });
    expect(verdict.results[0]?.status.result).toBe('pass');
    expect(got.raw.toString()).toMatch(/^Autocrypt: addr=alice@localhost/m);
  });

  it('to a person whose key is known, the mail leaves PGP/MIME-encrypted; gpg decrypts it and verifies the signature', async () => {
    await importAliceFromWkd();
    const bobKey = await gpg(['--armor', '--export', 'bob@outside.example']);
    const imported = await alice.client.importOutsideKey(bobKey);
    expect(imported[0]?.address).toBe('bob@outside.example');
    const sent = await alice.client.sendMail({ to: ['bob@outside.example'], subject: 'for bob only', text: 'the launch code is 1234' });
    expect(sent.outside?.encrypted).toBe(true);
    const got = await until(() => sink.messages.find((m) => m.to.includes('bob@outside.example') && m.raw.includes('multipart/encrypted')), 15_000, 'encrypted delivery');
    expect(got.raw.includes('launch code')).toBe(false);
    const armored = got.raw.toString().match(/-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/)![0];
    const out = await gpg(['--decrypt'], armored);
    expect(out).toContain('the launch code is 1234');
    expect(out).toMatch(/Good signature from "alice@localhost"|Good signature from "<alice@localhost>"/);
  });

  it('a recipient the outside server refuses comes back as a bounce in the sender\'s inbox', async () => {
    await alice.client.sendMail({ to: ['nobody@outside.example'], subject: 'will bounce', text: 'x' }, { allowReadable: true });
    const bounce = await inbox('Undelivered mail returned to sender');
    expect(alice.client.readMail(bounce.id).text).toContain('nobody@outside.example');
  });
});
