// The CFRG X-Wing draft's test vectors in Chromium, against the X-Wing implementation the web client's MLS provider
// loads for the pq-hybrid suite (@hpke/hybridkem-x-wing with mlkem, on the browser's WebCrypto): the same ES modules
// the web build bundles, served from node_modules to a blank page through an import map. Keys from seeds,
// encapsulation from the encapsulation seed, and decapsulation, byte for byte.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, watchPage } from '../browser.js';

// Loopback: a secure context, as the web client's page is, so WebCrypto is there (the route answers; nothing listens).
const ORIGIN = 'http://127.0.0.1:9';
const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const vectors = readFileSync(new URL('../vectors/xwing-draft-connolly-cfrg.json', import.meta.url), 'utf8');
let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  watchPage(page, 'xwing');
  await page.route(`${ORIGIN}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/') {
      const importMap = {
        imports: {
          '@hpke/hybridkem-x-wing': '/m/@hpke/hybridkem-x-wing/esm/mod.js',
          '@hpke/common': '/m/@hpke/common/esm/mod.js',
          '@hpke/dhkem-x25519': '/m/@hpke/dhkem-x25519/esm/mod.js',
          mlkem: '/m/mlkem/esm/mod.js',
        },
      };
      return route.fulfill({ contentType: 'text/html', body: `<!doctype html><script type="importmap">${JSON.stringify(importMap)}</script><p>x-wing</p>` });
    }
    if (path.startsWith('/m/') && !path.includes('..') && path.endsWith('.js')) {
      return route.fulfill({ contentType: 'text/javascript', body: readFileSync(`${modules}${path.slice(3)}`, 'utf8') });
    }
    return route.fulfill({ status: 404, body: 'not found' });
  });
  await page.goto(`${ORIGIN}/`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

it('the X-Wing draft vectors pass in Chromium', async () => {
  // Given as source text: the test runner rewrites import() in functions it compiles, and this runs in the page.
  const results = (await page.evaluate(`(async () => {
    const { XWing } = await import('@hpke/hybridkem-x-wing');
    const hex = (s) => new Uint8Array(s.match(/../g).map((b) => parseInt(b, 16)));
    const toHex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
    const out = [];
    for (const v of ${vectors.trim()}) {
      const kem = new XWing();
      const kp = await kem.generateKeyPairDerand(hex(v.seed));
      const pk = toHex(await kem.serializePublicKey(kp.publicKey));
      const enc = await kem.encap({ recipientPublicKey: await kem.deserializePublicKey(hex(v.pk).buffer), ekm: hex(v.eseed) });
      const ss = await kem.decap({ enc: hex(v.ct).buffer, recipientKey: await kem.deserializePrivateKey(hex(v.sk).buffer) });
      out.push({ pk: pk === v.pk, ct: toHex(enc.enc) === v.ct, ssEncap: toHex(enc.sharedSecret) === v.ss, ssDecap: toHex(ss) === v.ss, webCrypto: typeof crypto.subtle === 'object' });
    }
    return out;
  })()`)) as { pk: boolean; ct: boolean; ssEncap: boolean; ssDecap: boolean; webCrypto: boolean }[];
  expect(results).toHaveLength(3);
  for (const r of results) expect(r).toEqual({ pk: true, ct: true, ssEncap: true, ssDecap: true, webCrypto: true });
});
