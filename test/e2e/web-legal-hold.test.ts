// Legal hold in the web client, in real Chromium: alice in the browser, bob and the organisation's archive on the SDK.
// After a hold on bob, alice's chat with bob shows who is held, since when and why; her first message there asks
// once (a confirm dialog) and goes out after yes — and is what the archive receives; her next one goes without asking.
// The screenshot is docs/screenshots/web-legal-hold.png.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { launchChromium, screenshot, watchPage } from '../browser.js';

let server: TestServer;
let browser: Browser;
let page: Page;
let bob: TestClient;
let archive: TestClient;

beforeAll(async () => {
  server = await startTestServer({ web: true });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1200, height: 760 } })).newPage();
  watchPage(page, 'alice');
  bob = await server.enroll('bob');
  archive = await server.enrollArchive();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('an archived chat shows the hold, and the first send into it asks once', async () => {
  const { activationCode } = await server.addUser('alice');
  await page.goto(server.url);
  await page.getByLabel('Your user name').fill('alice');
  await page.getByLabel('Activation code').fill(activationCode);
  await page.getByTestId('enroll').click();
  await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Online');
  await bob.client.send({ to: ['alice'] }, 'hello before the hold');
  await page.getByRole('button', { name: 'Chats' }).click();
  await page.getByTestId('conversation').filter({ hasText: 'bob' }).first().click();
  await expect.poll(() => page.getByTestId('messages').innerText(), { timeout: 20_000 }).toContain('hello before the hold');
  expect(await page.getByTestId('archived-banner').count()).toBe(0);

  await server.adminRequest('POST', '/v1/admin/holds', { user: 'bob', reason: 'case 2026-17: litigation hold' });
  // The browser (watching) acts on the notice; bob's device too, whichever commits first.
  await bob.client.sync();
  await expect.poll(() => page.getByTestId('archived-banner').count(), { timeout: 30_000 }).toBe(1);
  const banner = await page.getByTestId('archived-banner').innerText();
  expect(banner).toMatch(/archive is a member of this conversation since .* under a legal hold on bob \(“case 2026-17: litigation hold”\)/);

  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept();
  });
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill('recorded, and I said yes');
  await page.getByTestId('send').click();
  await expect.poll(() => page.getByTestId('messages').innerText(), { timeout: 20_000 }).toContain('recorded, and I said yes');
  expect(asked).toMatch(/recorded by your organisation's archive under the legal hold on bob@localhost/);
  await screenshot(page, 'web-legal-hold');

  // Asked once: the next goes without a dialog.
  page.once('dialog', (d) => {
    asked = `asked again: ${d.message()}`;
    void d.dismiss();
  });
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill('second, without asking');
  await page.getByTestId('send').click();
  await expect.poll(() => page.getByTestId('messages').innerText(), { timeout: 20_000 }).toContain('second, without asking');
  expect(asked).not.toMatch(/^asked again/);

  await bob.client.sync();
  await archive.client.sync();
  expect(archive.client.messages().map((m) => m.text)).toEqual(['recorded, and I said yes', 'second, without asking']);
}, 120_000);
