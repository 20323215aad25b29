// SHA-256 from node:crypto, for code that hashes millions of small inputs (replaying a key-transparency log).
import * as nodeCrypto from 'node:crypto';

type OneShot = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;
const oneShot = (nodeCrypto as unknown as { hash?: OneShot }).hash;

/** crypto.hash where Node has it (20.12+: no Hash object per call), else createHash. */
export const sha256Native = (data: Uint8Array): Uint8Array =>
  oneShot ? oneShot('sha256', data, 'buffer') : nodeCrypto.createHash('sha256').update(data).digest();
