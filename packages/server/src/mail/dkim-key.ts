// The organisation's DKIM key (RFC 6376): made once on the server, its private half sealed under the server secret
// in the store (like the organisation key), the public half published in DNS as the admin is told
// (`sealpost admin mail dns`). RSA 2048, which every receiving server verifies (Ed25519 DKIM, RFC 8463, is not yet).
import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { utf8 } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { openAtRest, sealAtRest } from '../server-secret.js';
import { audit } from '../admin/audit.js';

export const DKIM_SELECTOR = 'sealpost1';
const META = 'dkim_key_v1';

export interface DkimKey {
  selector: string;
  /** PEM (PKCS#8). */
  privateKeyPem: string;
  /** base64 of the SubjectPublicKeyInfo: the p= of the DNS record. */
  publicKeyB64: string;
}

let cached: { ctx: ServerContext; key: DkimKey } | undefined;

export async function loadDkimKey(ctx: ServerContext): Promise<DkimKey> {
  if (cached?.ctx === ctx) return cached.key;
  let stored = await ctx.store.getMeta(META);
  if (!stored) {
    const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    stored = Buffer.from(sealAtRest(ctx.secret, 'dkim-key', utf8(DKIM_SELECTOR), utf8(pem))).toString('base64url');
    await ctx.store.setMeta(META, stored);
    await audit(ctx, 'server', 'mail.dkim-key-created', ctx.domain, { selector: DKIM_SELECTOR });
  }
  const pem = new TextDecoder().decode(openAtRest(ctx.secret, 'dkim-key', utf8(DKIM_SELECTOR), new Uint8Array(Buffer.from(stored, 'base64url'))));
  const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  const key = { selector: DKIM_SELECTOR, privateKeyPem: pem, publicKeyB64: spki.toString('base64') };
  cached = { ctx, key };
  return key;
}

/** The DNS records an organisation publishes for its mail: MX, SPF, DKIM, DMARC. */
export function mailDnsRecords(domain: string, mxHost: string, key: DkimKey): { name: string; type: string; value: string; why: string }[] {
  return [
    { name: domain, type: 'MX', value: `10 ${mxHost}.`, why: 'where outside servers deliver mail for this domain (the gateway, --smtp-listen on port 25)' },
    { name: domain, type: 'TXT', value: 'v=spf1 mx -all', why: 'SPF: only this domain\'s mail hosts send its mail (add your outbound IPs if they differ)' },
    { name: `${key.selector}._domainkey.${domain}`, type: 'TXT', value: `v=DKIM1; k=rsa; p=${key.publicKeyB64}`, why: 'DKIM: the key outgoing mail is signed with' },
    { name: `_dmarc.${domain}`, type: 'TXT', value: `v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@${domain}`, why: 'DMARC: what receivers do with mail that fails both' },
    { name: `openpgpkey.${domain}`, type: 'CNAME/A', value: mxHost, why: 'Web Key Directory (advanced method): serve /.well-known/openpgpkey/ from this server' },
  ];
}
