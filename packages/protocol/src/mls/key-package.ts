// Reading a KeyPackage someone else made (RFC 9420 §10): decode with a size limit, one of our ciphersuites, a valid
// self-signature, and a Sealpost credential. The server runs this on upload; clients again on claim.
import { decodeMlsMessage, type CiphersuiteImpl, type KeyPackage } from 'ts-mls';
import { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { SealpostError } from '../errors.js';
import { toBase64Url } from '../bytes.js';
import { limits } from '../limits.js';
import { identityOf, type DeviceIdentity } from './credential.js';
import { stockCiphersuite, suiteOfMls, type SuiteName } from './ciphersuite.js';

export interface ReadKeyPackage {
  keyPackage: KeyPackage;
  identity: DeviceIdentity;
  signatureKey: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2), base64url. */
  ref: string;
  suite: SuiteName;
}

/** The implementation of a suite: `cs` for classic (the caller's, often native), the stock one otherwise. */
export type SuiteImpls = (suite: SuiteName) => Promise<CiphersuiteImpl>;

export async function readKeyPackage(cs: CiphersuiteImpl, bytes: Uint8Array, impls?: SuiteImpls): Promise<ReadKeyPackage> {
  if (bytes.length > limits.maxKeyPackageBytes) {
    throw new SealpostError('PAYLOAD_TOO_LARGE', `keyPackage: length ${bytes.length} > ${limits.maxKeyPackageBytes}`);
  }
  let decoded;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    decoded = undefined;
  }
  if (!decoded || decoded[1] !== bytes.length || decoded[0].wireformat !== 'mls_key_package') {
    throw new SealpostError('MLS_ERROR', 'keyPackage: not an MLS KeyPackage message');
  }
  const kp = decoded[0].keyPackage;
  const suite = suiteOfMls(kp.cipherSuite);
  const impl = suite === 'classic' ? cs : await (impls ?? stockCiphersuite)(suite);
  // Both suites sign with Ed25519: the caller's signature check (with its policy) serves both.
  if (!(await verifyKeyPackage(kp, cs.signature))) throw new SealpostError('MLS_ERROR', 'keyPackage: bad signature');
  return {
    keyPackage: kp,
    identity: identityOf(kp.leafNode.credential),
    signatureKey: kp.leafNode.signaturePublicKey,
    ref: toBase64Url(await makeKeyPackageRef(kp, impl.hash)),
    suite,
  };
}
