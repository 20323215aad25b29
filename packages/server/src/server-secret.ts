// The server secret: 32 random bytes in a file beside the database, never in it (design.md's threat model names the
// database thief). The signing keys the store keeps — the organisation key (wipe commands, removal notices) and the
// key-transparency signing and VRF keys — are sealed under it (AES-256-GCM), and activation codes are kept as
// HMACs under it, so a copy of the database alone can neither forge a signature nor test guesses at a code.
// Every node of a cluster needs the same file (docs/operations.md, "The server secret").
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { SealpostError } from '@sealpost/protocol';

export interface ServerSecret {
  /** The file it came from (named in errors). */
  file: string;
  /** Seals the private keys kept in the store. */
  wrapKey: Uint8Array;
  /** Keys the HMAC of activation codes. */
  activationKey: Uint8Array;
}

const derive = (secret: Uint8Array, purpose: string): Uint8Array => new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), `sealpost v1 ${purpose}`, 32));

/** Read the secret file, or make one (mode 0600) when there is none and `create` is set. */
export function loadServerSecret(file: string, create: boolean): ServerSecret {
  if (!existsSync(file)) {
    if (!create) throw new SealpostError('CONFIG_INVALID', `server secret ${file} does not exist (copy it from the first node)`);
    // Written whole, then linked into place: two nodes starting on one data folder both end up with the same file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (secret.length !== 32) throw new SealpostError('CONFIG_INVALID', `server secret ${file}: expected 32 bytes in base64url`);
  return { file, wrapKey: derive(secret, 'key wrap'), activationKey: derive(secret, 'activation code') };
}

const SEALED = 'sealed1';

/** `private` sealed for the store: sealed1.<nonce>.<ciphertext+tag>, bound to the key's name and public half. */
export function sealPrivateKey(s: ServerSecret, name: string, publicKey: Uint8Array, privateKey: Uint8Array): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', s.wrapKey, nonce);
  c.setAAD(Buffer.concat([Buffer.from(`${name}\0`), publicKey]));
  const ct = Buffer.concat([c.update(privateKey), c.final(), c.getAuthTag()]);
  return `${SEALED}.${nonce.toString('base64url')}.${ct.toString('base64url')}`;
}

/** The private key, or CONFIG_INVALID when this secret did not seal it (another node's secret, or a forged row). */
export function openPrivateKey(s: ServerSecret, name: string, publicKey: Uint8Array, sealed: string): Uint8Array {
  const [tag, nonce, ct] = sealed.split('.');
  const bytes = Buffer.from(ct ?? '', 'base64url');
  if (tag !== SEALED || !nonce || bytes.length < 17) throw new SealpostError('CONFIG_INVALID', `${name} in the store is malformed`);
  try {
    const d = createDecipheriv('aes-256-gcm', s.wrapKey, Buffer.from(nonce, 'base64url'));
    d.setAAD(Buffer.concat([Buffer.from(`${name}\0`), publicKey]));
    d.setAuthTag(bytes.subarray(bytes.length - 16));
    return new Uint8Array(Buffer.concat([d.update(bytes.subarray(0, bytes.length - 16)), d.final()]));
  } catch {
    throw new SealpostError(
      'CONFIG_INVALID',
      `${name} in the store was not sealed with the server secret in ${s.file}: every node needs the same secret file, and a database row that does not open under it was not written by this server`,
    );
  }
}

export const isSealed = (stored: string): boolean => stored.startsWith(`${SEALED}.`);

/** An activation code as stored: HMAC-SHA256 under the secret, of the code without dashes or spaces, upper case. */
export function activationCodeMac(s: ServerSecret, code: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', s.activationKey).update(normalisedCode(code)).digest());
}

export const normalisedCode = (code: string): string => code.toUpperCase().replace(/[\s-]/g, '');

/**
 * Bytes kept in the store that only this server may read back (outbound mail waiting for delivery): AES-256-GCM
 * under a key derived from the secret for `purpose`, bound to `aad`. Output: nonce ‖ ciphertext ‖ tag.
 */
export function sealAtRest(s: ServerSecret, purpose: string, aad: Uint8Array, plain: Uint8Array): Uint8Array {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', derive(s.wrapKey, `at-rest ${purpose}`), nonce);
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]));
}

export function openAtRest(s: ServerSecret, purpose: string, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  if (sealed.length < 28) throw new SealpostError('STORE_TAMPERED', `${purpose}: sealed row too short`);
  try {
    const d = createDecipheriv('aes-256-gcm', derive(s.wrapKey, `at-rest ${purpose}`), sealed.subarray(0, 12));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]));
  } catch {
    throw new SealpostError('STORE_TAMPERED', `${purpose}: a sealed row does not open under this server's secret`);
  }
}
