// ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5, suite 0x03): the verifiable random function that turns a label
// into its position in the prefix tree, so the tree reveals nothing about which labels exist, while anyone can
// check the position the server claims. Only the protocol steps are here; the curve arithmetic is @noble/curves'
// edwards25519 and the hash is @noble/hashes' SHA-512.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes } from '../bytes.js';

const Point = ed25519.Point;
type Pt = InstanceType<typeof Point>;
const q = Point.Fn.ORDER; // the prime order of the base point (RFC 9381 §5.5: q)
const SUITE = 0x03;
const C_LEN = 16; // RFC 9381 §5.5: cLen = 16 for this suite
const PT_LEN = 32;
const Q_LEN = 32;
export const VRF_PROOF_BYTES = PT_LEN + C_LEN + Q_LEN; // 80
export const VRF_OUTPUT_BYTES = 64;

function leToInt(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function intToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

const mod = (n: bigint) => ((n % q) + q) % q;

/** RFC 8032 §5.1.3 decoding, strict (a non-canonical y is refused); undefined for an invalid string. */
function stringToPoint(b: Uint8Array): Pt | undefined {
  try {
    return Point.fromBytes(b, false);
  } catch {
    return undefined;
  }
}

/** Multiplication that also accepts 0 (noble's `multiply` refuses it). */
const mul = (p: Pt, n: bigint): Pt => (mod(n) === 0n ? Point.ZERO : p.multiply(mod(n)));

/** RFC 9381 §5.4.1.1: try-and-increment over SHA-512(suite ‖ 0x01 ‖ PK ‖ alpha ‖ ctr ‖ 0x00), times the cofactor. */
function encodeToCurve(pk: Uint8Array, alpha: Uint8Array): Pt {
  for (let ctr = 0; ctr < 256; ctr++) {
    const h = sha512(concatBytes(new Uint8Array([SUITE, 0x01]), pk, alpha, new Uint8Array([ctr, 0x00])));
    const p = stringToPoint(h.subarray(0, 32));
    if (p) return p.clearCofactor();
  }
  // Probability 2^-256: RFC 9381 allows failing here.
  throw new Error('ECVRF encode_to_curve: no valid point');
}

/** RFC 9381 §5.4.3: cLen bytes of SHA-512(suite ‖ 0x02 ‖ P1 … P5 ‖ 0x00). */
function challenge(...points: Pt[]): bigint {
  const h = sha512(concatBytes(new Uint8Array([SUITE, 0x02]), ...points.map((p) => p.toBytes()), new Uint8Array([0x00])));
  return leToInt(h.subarray(0, C_LEN));
}

/** RFC 9381 §5.2: beta = SHA-512(suite ‖ 0x03 ‖ point(cofactor · Gamma) ‖ 0x00). */
function proofToHash(gamma: Pt): Uint8Array {
  return sha512(concatBytes(new Uint8Array([SUITE, 0x03]), gamma.clearCofactor().toBytes(), new Uint8Array([0x00])));
}

/** The secret scalar and nonce key of an Ed25519 secret key (RFC 8032 §5.1.5, as RFC 9381 §5.4.2.2 uses them). */
function expand(sk: Uint8Array): { x: bigint; prefix: Uint8Array } {
  if (sk.length !== 32) throw new Error('ECVRF: secret key must be 32 bytes');
  const h = sha512(sk);
  const a = h.slice(0, 32);
  a[0]! &= 248;
  a[31]! &= 127;
  a[31]! |= 64;
  return { x: leToInt(a), prefix: h.slice(32, 64) };
}

export function vrfPublicKey(sk: Uint8Array): Uint8Array {
  return Point.BASE.multiply(mod(expand(sk).x)).toBytes();
}

/** RFC 9381 §5.1: the proof pi (80 bytes) and output beta (64 bytes) for input alpha. */
export function vrfProve(sk: Uint8Array, alpha: Uint8Array): { proof: Uint8Array; output: Uint8Array } {
  const { x, prefix } = expand(sk);
  const Y = Point.BASE.multiply(mod(x));
  const pk = Y.toBytes();
  const H = encodeToCurve(pk, alpha);
  const gamma = mul(H, x);
  // RFC 9381 §5.4.2.2: k = SHA-512(prefix ‖ point(H)) mod q.
  const k = mod(leToInt(sha512(concatBytes(prefix, H.toBytes()))));
  const c = challenge(Y, H, gamma, mul(Point.BASE, k), mul(H, k));
  const s = mod(k + c * x);
  const proof = concatBytes(gamma.toBytes(), intToLe(c, C_LEN), intToLe(s, Q_LEN));
  return { proof, output: proofToHash(gamma) };
}

/**
 * The output beta alone, without the proof (RFC 9381 §5.2 over §5.1 steps 1–4): what a server needs to place an
 * entry; about half the work of `vrfProve`. Equal to `vrfProve(sk, alpha).output`.
 */
export function vrfOutput(sk: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x } = expand(sk);
  const pk = Point.BASE.multiply(mod(x)).toBytes();
  return proofToHash(mul(encodeToCurve(pk, alpha), x));
}

/**
 * X25519 (RFC 7748) with one fixed secret scalar: the Montgomery u-coordinate of x·P from P's. The VRF's secret
 * scalar is already clamped (RFC 8032 §5.1.5), so X25519 with it computes exactly x·P for a point of the
 * prime-order subgroup. Supplied by the platform (node:crypto) — protocol code stays pure.
 */
export type X25519WithScalar = (u: Uint8Array) => Uint8Array;

const Fp = Point.Fp;
const A = 486662n; // Curve25519: v² = u³ + A·u² + u (RFC 7748 §4.1)
/** Either square root of −(A + 2): the birational map (x, y) ↔ (u, v) = ((1 + y)/(1 − y), c·u/x) with it. */
const C = Fp.sqrt(Fp.neg(A + 2n));
const rhs = (u: bigint) => Fp.mul(Fp.add(Fp.mul(Fp.add(u, A), u), 1n), u); // u³ + A·u² + u

/**
 * A VRF output function for one secret key (RFC 9381 §5.2 over §5.1 steps 1–4, like `vrfOutput`), its public
 * key computed once. With `x25519` the secret multiplication Gamma = x·H runs as X25519 on H's u-coordinate
 * (constant time, native). u loses Gamma's v-coordinate; one more X25519, on H + B, gives u(x·(H + B)) =
 * u(Gamma + Y) for the public point Y = x·B, from which the Montgomery addition law gives v exactly:
 *   v_G = (f(u_Y) + f(u_G) − (A + u_Y + u_G + u_{G+Y})·(u_G − u_Y)²) / (2·v_Y),  f(u) = u³ + A·u² + u
 * (Okeya–Sakurai y-recovery). Field inversions are the expensive part in bigint arithmetic, so the two
 * u-coordinates share one (u = (Z + Y)/(Z − Y) in projective coordinates) and Gamma is built projectively.
 * Degenerate points (an identity or a 2-torsion point anywhere, probability ~2^-250) take the pure-JS path.
 * Equal to `vrfOutput(sk, alpha)` for every input.
 */
export function vrfOutputFunction(sk: Uint8Array, x25519?: (scalar: Uint8Array) => X25519WithScalar): (alpha: Uint8Array) => Uint8Array {
  const { x } = expand(sk);
  const Y = Point.BASE.multiply(mod(x));
  const pk = Y.toBytes();
  const slow = (H: Pt) => proofToHash(mul(H, x));
  if (!x25519) return (alpha) => slow(encodeToCurve(pk, alpha));
  const mulU = x25519(intToLe(x, 32));
  const { x: xY, y: yY } = Y.toAffine();
  const uY = Fp.div(Fp.add(1n, yY), Fp.sub(1n, yY));
  const inv2VY = Fp.inv(Fp.mul(2n, Fp.div(Fp.mul(C, uY), xY)));
  const fY = rhs(uY);
  return (alpha) => {
    const H = encodeToCurve(pk, alpha);
    const HB = H.add(Point.BASE);
    const dH = Fp.sub(H.Z, H.Y);
    const dHB = Fp.sub(HB.Z, HB.Y);
    if (dH === 0n || dHB === 0n) return slow(H);
    const inv = Fp.inv(Fp.mul(dH, dHB));
    const uH = Fp.mul(Fp.add(H.Z, H.Y), Fp.mul(inv, dHB));
    const uHB = Fp.mul(Fp.add(HB.Z, HB.Y), Fp.mul(inv, dH));
    const uG = leToInt(mulU(intToLe(uH, 32)));
    const uGY = leToInt(mulU(intToLe(uHB, 32)));
    const d = Fp.sub(uG, uY);
    const vG = Fp.mul(Fp.sub(Fp.add(fY, rhs(uG)), Fp.mul(Fp.add(Fp.add(A, uY), Fp.add(uG, uGY)), Fp.sqr(d))), inv2VY);
    const uG1 = Fp.add(uG, 1n);
    if (vG === 0n || uG1 === 0n) return slow(H);
    // Affine x = xn/xd = C·u/v and y = yn/yd = (u − 1)/(u + 1), so in extended coordinates, without inverting:
    // (X : Y : Z : T) = (xn·yd : yn·xd : xd·yd : xn·yn).
    const xn = Fp.mul(C, uG), xd = vG, yn = Fp.sub(uG, 1n), yd = uG1;
    const gamma = new Point(Fp.mul(xn, yd), Fp.mul(yn, xd), Fp.mul(xd, yd), Fp.mul(xn, yn));
    return proofToHash(gamma);
  };
}

/**
 * RFC 9381 §5.3: the output beta if `proof` is valid for `alpha` under `pk`, else undefined (never throws).
 * The public key is validated (§5.4.5): a small-order key is refused.
 */
export function vrfVerify(pk: Uint8Array, alpha: Uint8Array, proof: Uint8Array): Uint8Array | undefined {
  if (pk.length !== PT_LEN || proof.length !== VRF_PROOF_BYTES) return undefined;
  const Y = stringToPoint(pk);
  if (!Y || Y.isSmallOrder()) return undefined;
  const gamma = stringToPoint(proof.subarray(0, PT_LEN));
  if (!gamma) return undefined;
  const c = leToInt(proof.subarray(PT_LEN, PT_LEN + C_LEN));
  const s = leToInt(proof.subarray(PT_LEN + C_LEN));
  if (s >= q) return undefined;
  const H = encodeToCurve(pk, alpha);
  const U = mul(Point.BASE, s).subtract(mul(Y, c));
  const V = mul(H, s).subtract(mul(gamma, c));
  if (challenge(Y, H, gamma, U, V) !== c) return undefined;
  return proofToHash(gamma);
}

/** Convenience for tests and callers holding an expected output. */
export function vrfOutputMatches(pk: Uint8Array, alpha: Uint8Array, proof: Uint8Array, output: Uint8Array): boolean {
  const beta = vrfVerify(pk, alpha, proof);
  return beta !== undefined && bytesEqual(beta, output);
}
