// The MLS ciphersuites Sealpost speaks (RFC 9420 §17.1), by the name its policy and its users see:
//   classic    MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001)
//   pq-hybrid  MLS_256_XWING_AES256GCM_SHA512_Ed25519 (0x0053): X-Wing (X25519 + ML-KEM-768, the CFRG hybrid KEM)
//              for every key exchange, so what is recorded today stays unreadable to a quantum computer later;
//              Ed25519 signatures, as in classic (a device keeps one signature key for both).
// A conversation has one suite for its life; a device publishes KeyPackages of each.
import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName } from 'ts-mls';
import { ed25519PolicyAllows } from '../ed25519-policy.js';
import { SealpostError } from '../errors.js';

export const CIPHERSUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
export const HYBRID_CIPHERSUITE_NAME = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' as const;

export const suiteNames = ['classic', 'pq-hybrid'] as const;
export type SuiteName = (typeof suiteNames)[number];

const mlsNames: Record<SuiteName, CiphersuiteName> = { classic: CIPHERSUITE_NAME, 'pq-hybrid': HYBRID_CIPHERSUITE_NAME };

export const mlsSuiteName = (s: SuiteName): CiphersuiteName => mlsNames[s];

/** Our name for an MLS ciphersuite; SUITE_UNSUPPORTED for any other. */
export function suiteOfMls(name: string): SuiteName {
  const s = suiteNames.find((n) => mlsNames[n] === name);
  if (!s) throw new SealpostError('SUITE_UNSUPPORTED', `MLS ciphersuite ${name} is not one Sealpost speaks (classic or pq-hybrid)`);
  return s;
}

export const isSuiteName = (x: unknown): x is SuiteName => typeof x === 'string' && (suiteNames as readonly string[]).includes(x);

const cached = new Map<SuiteName, Promise<CiphersuiteImpl>>();

/**
 * A suite's implementation from ts-mls's own provider (WebCrypto, @noble where WebCrypto lacks an algorithm, X-Wing
 * from @hpke/hybridkem-x-wing), created once per process, with the Ed25519 policy in front of its signature check
 * like every other backend.
 */
export function stockCiphersuite(suite: SuiteName): Promise<CiphersuiteImpl> {
  let p = cached.get(suite);
  if (!p) {
    p = getCiphersuiteImpl(getCiphersuiteFromName(mlsNames[suite])).then((cs) => ({
      ...cs,
      signature: {
        ...cs.signature,
        verify: async (publicKey, message, signature) => ed25519PolicyAllows(publicKey, signature) && (await cs.signature.verify(publicKey, message, signature)),
      },
    }));
    cached.set(suite, p);
  }
  return p;
}

/** The classic suite's stock implementation (where no faster one is given). */
export const defaultCiphersuite = (): Promise<CiphersuiteImpl> => stockCiphersuite('classic');
