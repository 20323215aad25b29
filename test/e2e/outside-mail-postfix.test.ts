// Outside mail with a real MTA nobody here wrote: Debian's Postfix on loopback sends to the Sealpost gateway and
// receives from Sealpost's outbound queue (with GnuPG decrypting and verifying what it received).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { fixedDns, gpgIn, makeGpgKey, run, until } from '../mail-peers.js';
import { postfixUnavailable, startPostfix, type Postfix } from '../postfix.js';

const why = postfixUnavailable();
if (why) console.warn(`outside-mail-postfix: skipped — ${why}`);

describe.skipIf(why !== undefined)('Postfix as the outside MTA', () => {
  let server: TestServer;
  let alice: TestClient;
  let postfix: Postfix;
  let gnupg: string;
  let gpg: (args: string[], input?: string) => Promise<string>;
  const dns: Record<string, string[][]> = {};
  const resolver = fixedDns(dns as never);
  
  beforeAll(async () => {
    // The outbound route needs Postfix's port and Postfix needs the gateway's: the gateway starts first, on port 0.
    const routes: Record<string, string> = {};
    server = await startTestServer({ smtp: { host: '127.0.0.1', port: 0, resolver }, outbound: { routes, resolver, retryMs: [500] } });
    postfix = await startPostfix({ relayDomain: 'localhost', relayPort: server.started.smtpPort! });
    routes['outside.example'] = `127.0.0.1:${postfix.port}`;
    alice = await server.enroll('alice');
    gnupg = mkdtempSync(join(tmpdir(), 'sealpost-gnupg-pf-'));
    gpg = gpgIn(gnupg);
  }, 120_000);
  afterAll(async () => {
    postfix?.stop();
    await server?.close();
  });

  it('Postfix relays an outside message to the gateway, which answers it 250 once sealed; the device shows it', async () => {
    const r = await run('swaks', ['--server', `127.0.0.1:${postfix.port}`, '--to', 'alice@localhost', '--from', 'erin@outside.example', '--header', 'Subject: via postfix', '--body', 'relayed by a real MTA', '--silent', '1']);
    expect(r.stderr).toBe('');
    const m = await until(async () => {
      await alice.client.sync();
      return alice.client.mailList('inbox').find((x) => x.subject === 'via postfix');
    }, 30_000, 'the relayed mail');
    expect(alice.client.readMail(m.id).text).toContain('relayed by a real MTA');
    expect(postfix.log()).toMatch(/relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+.*status=sent \(250 2\.0\.0 stored sealed/);
  });

  it('Sealpost delivers to Postfix: DKIM verifies at the receiving side, and GnuPG decrypts and verifies the encrypted copy', async () => {
    await makeGpgKey(gpg, 'Erin <erin@outside.example>', 'erin@outside.example');
    await alice.client.importOutsideKey(await gpg(['--armor', '--export', 'erin@outside.example']));
    await gpg(['--import'], (await alice.client.ownOpenpgpKey()).armored);
    await alice.client.sendMail({ to: ['erin@outside.example'], subject: 'to erin', text: 'only erin reads this' });
    const got = await until(() => postfix.delivered().find((b) => b.includes('multipart/encrypted')), 30_000, 'delivery into Postfix\'s Maildir');
    const dnsAnswer = await server.adminRequest<{ records: { name: string; value: string }[] }>('GET', '/v1/admin/mail/dns');
    const rec = dnsAnswer.records.find((r) => r.name.includes('_domainkey'))!;
    dns[`TXT:${rec.name}`] = [[rec.value]];
    expect((await dkimVerify(got, { resolver })).results[0]?.status.result).toBe('pass');
    const armored = got.toString().match(/-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/)![0];
    const out = await gpg(['--decrypt'], armored);
    expect(out).toContain('only erin reads this');
    expect(out).toMatch(/Good signature from/);
  });
});
