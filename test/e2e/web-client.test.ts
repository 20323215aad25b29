// The web client end to end, in real Chromium (Debian's, through playwright-core) against a real server on
// 127.0.0.1:0: alice and bob in two browser contexts, carol on the built CLI. Enrolling, chat both ways live, a group
// with carol, mail with an attachment to carol and her reply, the same safety number in the browser and the CLI, a
// second browser linked and approved, a reload that keeps everything; then what no content may do (a marker in chat,
// subject and file is in neither IndexedDB nor the server's data folder), the KT alarm banner for a ghost device, a
// device revoked from the CLI leaving the browser's list, a remote wipe emptying the browser's profile, and axe-core
// on the main views. Screenshots go to test-artifacts/web/.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { GroupEngine, newDeviceId, parseUserId } from '@sealpost/protocol';
import { filesUnder, startTestServer, tempDir, type TestServer } from '../helpers.js';
import { axeViolations, launchChromium, screenshot, watchPage } from '../browser.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
const MARKER = `web-marker-${Math.random().toString(36).slice(2, 10)}`;

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors = new Map<Page, string[]>();
let alice: Page;
let bob: Page;
let carolProfile: string;
/** Alice's second browser, linked in one test and revoked in a later one. */
let aliceSecond: Page;

function sealpost(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}
async function cli(args: string[]): Promise<string> {
  const r = await sealpost(args);
  expect(r.code, `sealpost ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const jsonLines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

async function newPage(name: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 }, acceptDownloads: true });
  contexts.push(ctx);
  const page = await ctx.newPage();
  pageErrors.set(page, watchPage(page, name));
  return page;
}

async function enrollInBrowser(page: Page, name: string): Promise<void> {
  const { activationCode } = await server.addUser(name);
  await page.goto(server.url);
  await page.getByLabel('Your user name').fill(name);
  await page.getByLabel('Activation code').fill(activationCode);
  await page.getByTestId('enroll').click();
  await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Online');
}

async function openConversationWith(page: Page, title: string): Promise<void> {
  await page.getByRole('button', { name: 'Chats' }).click();
  await page.getByTestId('conversation').filter({ hasText: title }).first().click();
}

const messagesOf = (page: Page) => page.getByTestId('messages').innerText();

/** The text of every conversation in the page's list (titles can repeat once a member left). */
async function allMessages(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Chats' }).click();
  const n = await page.getByTestId('conversation').count();
  let text = '';
  for (let i = 0; i < n; i++) {
    await page.getByTestId('conversation').nth(i).click();
    text += `${await messagesOf(page)}\n`;
  }
  return text;
}

beforeAll(async () => {
  server = await startTestServer({ web: true });
  browser = await launchChromium();
  alice = await newPage('alice');
  bob = await newPage('bob');
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await server?.close();
});

describe('the web client in Chromium', () => {
  it('is served with a strict Content-Security-Policy and lists the hashes of what it serves', async () => {
    const res = await fetch(server.url);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self' 'wasm-unsafe-eval';.*connect-src 'self'/);
    expect(await res.text()).not.toMatch(/<script>(?!<)/);
    const manifest = (await (await fetch(`${server.url}/v1/web/manifest`)).json()) as { files: Record<string, string> };
    const asset = Object.keys(manifest.files).find((p) => /^\/assets\/index-.*\.js$/.test(p))!;
    const js = await fetch(`${server.url}${asset}`);
    expect(js.headers.get('cache-control')).toContain('immutable');
    // And the CLI agrees that it is the build of this checkout.
    const verified = jsonLines(await cli(['web', 'verify', '--json']))[0]!;
    expect(verified.matches).toBe(true);
  });

  it('enrolls alice and bob in their browsers', async () => {
    await enrollInBrowser(alice, 'alice');
    await enrollInBrowser(bob, 'bob');
    await screenshot(alice, 'enrolled-empty');
  });

  it('chats both ways, live, with unread counts', async () => {
    await alice.getByLabel('New chat with').fill('bob');
    await alice.getByLabel('First message').fill(`hello bob ${MARKER}`);
    await alice.getByTestId('start-chat').click();
    await expect.poll(() => messagesOf(alice), { timeout: 20_000 }).toContain(`hello bob ${MARKER}`);
    // Bob's list grows by itself (no reload), with an unread count.
    await expect.poll(() => bob.getByTestId('unread').first().textContent().catch(() => null), { timeout: 20_000 }).toBe('1');
    await openConversationWith(bob, 'alice');
    await expect.poll(() => messagesOf(bob), { timeout: 10_000 }).toContain(`hello bob ${MARKER}`);
    await bob.getByLabel('Message', { exact: true }).fill('hi alice, from bob');
    await bob.getByTestId('send').click();
    await expect.poll(() => messagesOf(alice), { timeout: 20_000 }).toContain('hi alice, from bob');
    await screenshot(alice, 'chat');
  });

  it('sends a file dropped on a conversation, and the other side downloads it decrypted', async () => {
    const content = `dropped file ${MARKER}\n`.repeat(20_000); // ~0.6 MiB: a progress bar, more than one chunk
    await openConversationWith(alice, 'bob');
    // A real drop: a DataTransfer carrying a File, dispatched on the composer.
    const drop = await alice.evaluateHandle((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], 'notes.txt', { type: 'text/plain' }));
      return dt;
    }, content);
    await alice.getByRole('form', { name: 'Write a message' }).dispatchEvent('drop', { dataTransfer: drop });
    await expect.poll(() => alice.getByRole('list', { name: 'Files to send' }).innerText(), { timeout: 5_000 }).toContain('notes.txt');
    await alice.getByTestId('send').click();
    await expect.poll(() => messagesOf(alice), { timeout: 20_000 }).toContain('notes.txt');
    await openConversationWith(bob, 'alice');
    await expect.poll(() => messagesOf(bob), { timeout: 20_000 }).toContain('notes.txt');
    const download = bob.waitForEvent('download');
    await bob.getByTestId('message').filter({ hasText: 'notes.txt' }).getByTestId('download').click();
    expect(readFileSync(await (await download).path(), 'utf8')).toBe(content);
  });

  it('runs a group with carol on the CLI: create, talk, remove', async () => {
    const { activationCode } = await server.addUser('carol');
    carolProfile = tempDir('carol');
    await cli(['enroll', '--user', 'carol', '--code', activationCode, '--profile', carolProfile]);
    await alice.getByLabel('New chat with').fill('bob, carol');
    await alice.getByLabel('First message').fill('hello group');
    await alice.getByTestId('start-chat').click();
    await expect.poll(() => messagesOf(alice), { timeout: 20_000 }).toContain('hello group');
    let carolSees: Record<string, unknown>[] = [];
    await expect.poll(async () => {
      carolSees = carolSees.concat(jsonLines(await cli(['sync', '--profile', carolProfile, '--json'])));
      return carolSees.map((m) => m.text);
    }, { timeout: 20_000 }).toContain('hello group');
    const group = carolSees.find((m) => m.text === 'hello group')!.conversation as string;
    await cli(['send', '--profile', carolProfile, '--conversation', group, 'carol here, from the terminal']);
    await expect.poll(() => messagesOf(alice), { timeout: 20_000 }).toContain('carol here, from the terminal');
    await openConversationWith(bob, 'alice, carol');
    await expect.poll(() => messagesOf(bob), { timeout: 20_000 }).toContain('carol here, from the terminal');
    await screenshot(bob, 'group');

    // Alice removes carol; carol cannot read what follows.
    await alice.getByText('3 members').click();
    await alice.locator('.members li').filter({ hasText: 'carol' }).getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => alice.getByText('2 members').count(), { timeout: 20_000 }).toBe(1);
    await alice.getByLabel('Message', { exact: true }).fill('after carol left');
    await alice.getByTestId('send').click();
    await expect.poll(() => messagesOf(bob), { timeout: 20_000 }).toContain('after carol left');
    const after = jsonLines(await cli(['sync', '--profile', carolProfile, '--json']));
    expect(after.map((m) => m.text)).not.toContain('after carol left');
  });

  it('mails carol with an attachment, and shows her reply', async () => {
    await alice.getByRole('button', { name: 'Mail' }).click();
    await alice.getByTestId('compose').click();
    await alice.getByLabel('To').fill('carol');
    await alice.getByLabel('Subject').fill(`Plan ${MARKER}`);
    await alice.getByLabel('Message').fill('The plan is attached.');
    await alice.getByLabel('Attach files').setInputFiles({ name: 'plan.txt', mimeType: 'text/plain', buffer: Buffer.from(`file body ${MARKER}\n`.repeat(1000)) });
    await alice.getByTestId('send-mail').click();
    await expect.poll(() => alice.getByTestId('mail-list').innerText(), { timeout: 30_000 }).toContain(`Plan ${MARKER}`);

    let mails: Record<string, unknown>[] = [];
    await expect.poll(async () => {
      await cli(['sync', '--profile', carolProfile, '--json']);
      mails = jsonLines(await cli(['mail', 'list', '--profile', carolProfile, '--json']));
      return mails.map((m) => m.subject);
    }, { timeout: 20_000 }).toContain(`Plan ${MARKER}`);
    const mail = mails.find((m) => m.subject === `Plan ${MARKER}`)!;
    const attachment = (mail.attachments as { id: string }[])[0]!;
    const out = join(carolProfile, 'plan.txt');
    await cli(['files', 'get', attachment.id, '--out', out, '--profile', carolProfile]);
    expect(readFileSync(out, 'utf8')).toBe(`file body ${MARKER}\n`.repeat(1000));
    await cli(['mail', 'reply', String(mail.id), '--profile', carolProfile, '--body', 'Got it, thanks — carol']);

    await alice.getByRole('button', { name: /^Inbox/ }).click();
    await expect.poll(() => alice.getByTestId('mail-list').innerText(), { timeout: 20_000 }).toContain(`Re: Plan ${MARKER}`);
    await alice.getByTestId('mail-item').filter({ hasText: 'Re: Plan' }).click();
    await expect.poll(() => alice.getByTestId('mail-read').innerText(), { timeout: 10_000 }).toContain('Got it, thanks — carol');
    await screenshot(alice, 'mail');
  });

  it('downloads an attachment decrypted, in the browser', async () => {
    await alice.getByRole('button', { name: 'Sent' }).click();
    await alice.getByTestId('mail-item').filter({ hasText: `Plan ${MARKER}` }).click();
    const download = alice.waitForEvent('download');
    await alice.getByTestId('download').first().click();
    const file = await (await download).path();
    expect(readFileSync(file, 'utf8')).toBe(`file body ${MARKER}\n`.repeat(1000));
  });

  it('shows the same safety number as the CLI', async () => {
    await alice.getByRole('button', { name: 'Safety numbers' }).click();
    await alice.getByRole('button', { name: 'carol', exact: true }).click();
    const shown = ((await alice.getByTestId('safety-number').innerText()) ?? '').replace(/\s+/g, '');
    const carolView = jsonLines(await cli(['verify', 'alice', '--profile', carolProfile, '--json']))[0]!;
    expect(shown).toMatch(/^\d{60}$/);
    expect(shown).toBe(String(carolView.safetyNumber).replace(/\s+/g, ''));
    await alice.getByTestId('mark-verified').click();
    await expect.poll(() => alice.getByTestId('verified').count(), { timeout: 10_000 }).toBe(1);
    await screenshot(alice, 'safety-number');
  });

  it('finds the marker in neither the browser\'s IndexedDB nor the server\'s data folder', async () => {
    const found = await alice.evaluate(async (marker) => {
      const db = await new Promise<IDBDatabase>((ok, fail) => {
        const r = indexedDB.open('sealpost:default');
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      const records = await new Promise<unknown[]>((ok) => {
        const r = db.transaction('records').objectStore('records').getAll();
        r.onsuccess = () => ok(r.result);
      });
      db.close();
      const needle = new TextEncoder().encode(marker);
      const has = (hay: Uint8Array) => {
        outer: for (let i = 0; i + needle.length <= hay.length; i++) {
          for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
          return true;
        }
        return false;
      };
      return { count: records.length, leaks: records.filter((r) => has(new Uint8Array(r as ArrayBuffer))).length };
    }, MARKER);
    expect(found.count).toBeGreaterThan(10);
    expect(found.leaks).toBe(0);
    const files = filesUnder(server.dataDir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f).includes(MARKER), f).toBe(false);
  });

  it('links a second browser for alice, approved from her first', async () => {
    const second = await newPage('alice-2');
    await second.goto(server.url);
    await second.getByRole('tab', { name: 'Add this browser to my account' }).click();
    await second.getByLabel('Your user name').fill('alice');
    await second.getByLabel('Name of this device').fill('Second browser');
    await second.getByTestId('link').click();
    const code = await second.getByTestId('link-code-value').innerText({ timeout: 20_000 });
    const fingerprint = await second.getByTestId('link-fingerprint').innerText();
    await screenshot(second, 'link-code');
    await alice.getByRole('button', { name: 'Devices' }).click();
    await alice.getByLabel('Link code').fill(code);
    await alice.getByTestId('link-lookup').click();
    expect(await alice.getByTestId('approve-fingerprint').innerText({ timeout: 10_000 })).toBe(fingerprint);
    await alice.getByTestId('approve').click();
    await expect.poll(() => second.getByTestId('connection').textContent().catch(() => null), { timeout: 40_000 }).toBe('Online');
    // The new browser takes part in alice's conversations from now on.
    await openConversationWith(bob, 'alice');
    await bob.getByLabel('Message', { exact: true }).fill('for both of alice\'s browsers');
    await bob.getByTestId('send').click();
    await expect.poll(() => allMessages(second), { timeout: 30_000 }).toContain('for both of alice\'s browsers');
    await expect.poll(() => alice.getByTestId('device').count(), { timeout: 10_000 }).toBe(2);
    await screenshot(alice, 'devices');
    aliceSecond = second;
  });

  it('keeps everything across a reload', async () => {
    await bob.reload();
    await expect.poll(() => bob.getByTestId('connection').textContent(), { timeout: 20_000 }).toBe('Online');
    await expect.poll(() => allMessages(bob), { timeout: 10_000 }).toContain('carol here, from the terminal');
    expect(await allMessages(bob)).toContain(`hello bob ${MARKER}`);
  });

  it('has no serious or critical accessibility violations on the main views', async () => {
    const views: [string, () => Promise<unknown>][] = [
      ['chats', () => openConversationWith(alice, 'bob')],
      ['mail', () => alice.getByRole('button', { name: 'Mail' }).click()],
      ['devices', () => alice.getByRole('button', { name: 'Devices' }).click()],
      ['safety numbers', () => alice.getByRole('button', { name: 'Safety numbers' }).click()],
      ['search', () => alice.getByRole('button', { name: 'Search' }).click()],
    ];
    const found: string[] = [];
    for (const [name, go] of views) {
      await go();
      await alice.waitForTimeout(200);
      for (const v of await axeViolations(alice)) found.push(`${name}: ${v}`);
    }
    const welcome = await newPage('welcome');
    await welcome.goto(server.url);
    await welcome.getByLabel('Activation code').waitFor();
    for (const v of await axeViolations(welcome)) found.push(`welcome: ${v}`);
    await screenshot(welcome, 'welcome');
    expect(found).toEqual([]);
  });

  it('searches the local history', async () => {
    await alice.getByRole('button', { name: 'Search' }).click();
    await alice.getByLabel('Search your messages').fill(MARKER);
    await expect.poll(() => alice.getByTestId('search-results').innerText(), { timeout: 5_000 }).toContain(`hello bob ${MARKER}`);
    expect(await alice.getByTestId('search-results').innerText()).toContain(`Plan ${MARKER}`);
  });

  it('raises the key-transparency alarm for a ghost device, and keeps it until acknowledged', async () => {
    // The operator writes a device for alice straight into the database, with keys it holds.
    const engine = await GroupEngine.create(async () => true); // test double: the operator's own engine
    const ghost = { user: parseUserId('alice@localhost'), device: newDeviceId() };
    const keys = await engine.generateSignatureKeyPair();
    const d = new Database(join(server.dataDir, 'sealpost.db'));
    d.prepare('INSERT INTO devices (id, user, name, signature_key, created_at) VALUES (?, ?, ?, ?, ?)').run(ghost.device, ghost.user, 'ghost', keys.publicKey, Date.now());
    d.close();
    await alice.reload();
    await expect.poll(() => alice.getByTestId('kt-alarm').count(), { timeout: 20_000 }).toBe(1);
    expect(await alice.getByTestId('kt-alarm').innerText()).toContain(ghost.device);
    await screenshot(alice, 'kt-alarm');
    await alice.getByRole('button', { name: 'I have reported it' }).click();
    expect(await alice.getByTestId('kt-alarm').count()).toBe(0);
  });

  it('drops a device revoked from the CLI from the browser\'s list; the revoked browser says so', async () => {
    const second = aliceSecond;
    const devices = jsonLines(await cli(['admin', 'device', 'list', 'alice', '--json']));
    const list = (devices[0]?.devices ?? devices) as { id: string; name: string | null; status?: string }[];
    const target = list.find((x) => x.name === 'Second browser')!;
    expect(target).toBeDefined();
    await cli(['admin', 'device', 'revoke', 'alice', target.id]);
    await alice.getByRole('button', { name: 'Chats' }).click();
    await alice.getByRole('button', { name: 'Devices' }).click();
    await expect.poll(() => alice.locator(`[data-device="${target.id}"]`).innerText(), { timeout: 20_000 }).toContain('Removed');
    await expect.poll(() => second.locator('h1').innerText().catch(() => ''), { timeout: 30_000 }).toBe('This device was removed');
  });

  it('carries out a remote wipe: the browser\'s stored profile is erased', async () => {
    const devices = jsonLines(await cli(['admin', 'device', 'list', 'bob', '--json']));
    const list = (devices[0]?.devices ?? devices) as { id: string }[];
    await cli(['admin', 'device', 'wipe', 'bob', list[0]!.id]);
    await expect.poll(() => bob.locator('h1').innerText().catch(() => ''), { timeout: 30_000 }).toBe('This device was wiped');
    const names = await bob.evaluate(async () => (await indexedDB.databases()).map((x) => x.name));
    expect(names).not.toContain('sealpost:default');
    await screenshot(bob, 'wiped');
  });

  it('had no errors in any page', () => {
    const all = [alice, bob].flatMap((p) => pageErrors.get(p) ?? []);
    // A revoked or wiped device's last failed requests are expected noise; nothing else is.
    expect(all.filter((e) => !/401|403|410|Failed to load resource/.test(e))).toEqual([]);
  });
});
