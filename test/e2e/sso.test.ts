// Enrollment through the organisation's identity provider, with a real OIDC provider nobody here wrote (npm
// `oidc-provider`, started here on loopback with its own login and consent pages) and a real browser (Debian's
// Chromium) signing in on them; the real `sealpost enroll --sso` command waits on its loopback redirect. Then what
// must be refused is: a provider at another issuer, a replayed code, a code issued to another client, a login that
// took too long, a disabled user, a person who already has a device.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpApi } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { launchChromium, screenshot } from '../browser.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let idp: { issuer: string; http: Server };
let browser: Browser;
const now = { offset: 0 };

async function startProvider(): Promise<{ issuer: string; http: Server }> {
  const http = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      // The CLI's loopback redirect and the web app's own address (loopback here, so any port).
      { client_id: 'sealpost', client_secret: 'sealpost-client-secret', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/'], token_endpoint_auth_method: 'client_secret_post' },
      { client_id: 'other-app', client_secret: 'other-secret', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'client_secret_post' },
    ],
    // Accounts of the provider: the login name is the account; its verified email is what Sealpost maps.
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@localhost`, email_verified: true }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  } as never);
  http.on('request', provider.callback());
  return { issuer, http };
}

/** The person signs in on the provider's pages in Chromium: login name, any password, then consent. */
async function signIn(url: string, login: string): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[type=submit]');
    await page.click('button[type=submit]'); // consent
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback/, { timeout: 15_000 });
  } finally {
    await page.close();
  }
}

/** `sealpost enroll --sso`, signing in as `login` when it prints the address; its last JSON line, exit code, stderr. */
function enrollSso(login: string | undefined, profile: string): Promise<{ code: number; result?: Record<string, unknown>; stderr: string; url?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'enroll', '--sso', '--server', server.url, '--profile', profile, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let url: string | undefined;
    let result: Record<string, unknown> | undefined;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.status === 'sign-in') {
        url = m.url as string;
        if (login) void signIn(url, login).catch((err: Error) => (stderr += `browser: ${err.message}`));
        else child.kill('SIGINT');
      } else result = m;
    });
    child.on('exit', (code) => resolve({ code: code ?? 1, ...(result ? { result } : {}), stderr, ...(url ? { url } : {}) }));
  });
}

const admin = () => new HttpApi(server.url);
const setPolicy = (change: Record<string, unknown>) => admin().request('PUT', '/v1/admin/policy', { change }, { admin: server.adminToken });

beforeAll(async () => {
  idp = await startProvider();
  const secretFile = join(tempDir('sso'), 'client-secret');
  writeFileSync(secretFile, 'sealpost-client-secret\n', { mode: 0o600 });
  server = await startTestServer({ ssoClientSecretFile: secretFile, clock: { now: () => Date.now() + now.offset }, web: true });
  await setPolicy({ ssoIssuer: idp.issuer, ssoClientId: 'sealpost' });
  for (const u of ['alice', 'dave', 'erin', 'gina']) await server.addUser(u);
  await admin().request('POST', '/v1/admin/users/dave@localhost/disable', {}, { admin: server.adminToken });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  idp?.http.close();
  await server?.close();
});

describe('sealpost enroll --sso', () => {
  it('enrolls alice after she signs in at the provider in a browser; the audit log names the sign-in', async () => {
    const r = await enrollSso('alice', join(tempDir('sso-alice'), 'profile'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.url).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    expect(r.url).toContain('code_challenge_method=S256');
    expect(r.result).toMatchObject({ user: 'alice@localhost', device: expect.any(String) });
    const audit = (await admin().request<{ entries: { action: string; target: string; details: Record<string, string> }[] }>('GET', '/v1/admin/audit', undefined, { admin: server.adminToken })).entries;
    expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'sso.enroll', target: 'alice@localhost', details: expect.objectContaining({ sub: 'alice', issuer: idp.issuer }) })]));
  });

  it('never adds a device to an account that has one: alice signing in again is refused (link from her device)', async () => {
    const r = await enrollSso('alice', join(tempDir('sso-alice2'), 'profile'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SSO_HAS_DEVICE');
  });

  it('refuses a disabled user', async () => {
    const r = await enrollSso('dave', join(tempDir('sso-dave'), 'profile'));
    expect(r.stderr).toContain('USER_DISABLED');
  });

  it('refuses someone the provider knows but this server does not', async () => {
    const r = await enrollSso('mallory', join(tempDir('sso-mallory'), 'profile'));
    expect(r.stderr).toContain('USER_NOT_FOUND');
  });
});

describe('the web app', () => {
  it('offers the sign-in, comes back from the provider with the form filled, and enrolls gina in the browser', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await page.getByTestId('sso').waitFor();
      await screenshot(page, 'web-sso');
      await page.getByTestId('sso').click();
      await page.fill('input[name=login]', 'gina');
      await page.fill('input[name=password]', 'anything');
      await page.click('button[type=submit]');
      await page.waitForSelector('button[type=submit]');
      await page.click('button[type=submit]'); // consent
      await page.getByTestId('sso-signed-in').waitFor({ timeout: 15_000 });
      await screenshot(page, 'web-sso-signed-in');
      expect(new URL(page.url()).search).toBe(''); // the code is not left in the address bar
      expect(await page.getByLabel('Your user name').inputValue()).toBe('gina@localhost');
      await page.getByTestId('enroll').click();
      await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('Online');
    } finally {
      await page.close();
    }
  });
});

describe('the server refuses what does not check out', () => {
  /** A sign-in run by hand: start, the browser signs in, the redirect captured (not handed to the server yet). */
  async function redirectFor(login: string, clientId = 'sealpost'): Promise<string> {
    const listener = createServer();
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    const redirectUri = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/callback`;
    const got = new Promise<string>((resolve) => listener.on('request', (req, res) => {
      res.end('ok');
      resolve(`${redirectUri}${new URL(req.url!, 'http://x').search}`);
    }));
    let { authorizationUrl } = await admin().request<{ authorizationUrl: string }>('POST', '/v1/sso/start', { redirectUri }, 'none');
    if (clientId !== 'sealpost') authorizationUrl = authorizationUrl.replace('client_id=sealpost', `client_id=${clientId}`);
    await signIn(authorizationUrl, login);
    const url = await got;
    listener.close();
    return url;
  }
  const finish = (callbackUrl: string) => admin().request('POST', '/v1/sso/finish', { callbackUrl }, 'none');

  it('a replayed code, a code issued to another client, a login that took too long', async () => {
    const first = await redirectFor('erin');
    expect(await finish(first)).toMatchObject({ user: 'erin@localhost', activationCode: expect.any(String) });
    await expect(finish(first)).rejects.toMatchObject({ code: 'SSO_FAILED' }); // the provider refuses the code again
    await expect(finish(await redirectFor('erin', 'other-app'))).rejects.toMatchObject({ code: 'SSO_FAILED' });
    const slow = await redirectFor('erin');
    // The server's clock moves on eleven minutes (and stays there: a clock never goes back).
    now.offset += 11 * 60_000;
    await expect(finish(slow)).rejects.toMatchObject({ code: 'SSO_EXPIRED' });
    await expect(finish('http://127.0.0.1:1/callback?code=x&state=forged')).rejects.toMatchObject({ code: 'SSO_FAILED' });
    await expect(admin().request('POST', '/v1/sso/start', { redirectUri: 'https://evil.example/callback' }, 'none')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    // The web app's address only for the page that asks from it (its Origin), never another site's.
    const fromPage = (origin: string, redirectUri: string) =>
      fetch(`${server.url}/v1/sso/start`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ redirectUri }) }).then((r) => r.status);
    expect(await fromPage(server.url, `${server.url}/`)).toBe(200);
    expect(await fromPage('https://evil.example', 'https://evil.example/')).toBe(400);
    expect(await fromPage(server.url, 'https://evil.example/')).toBe(400);
  });

  it('a provider at another issuer than the policy names', async () => {
    await setPolicy({ ssoIssuer: `${idp.issuer}/elsewhere` });
    try {
      await expect(admin().request('POST', '/v1/sso/start', { redirectUri: 'http://127.0.0.1:9/callback' }, 'none')).rejects.toMatchObject({ code: 'SSO_FAILED' });
    } finally {
      await setPolicy({ ssoIssuer: idp.issuer });
    }
  });
});
