// One Ed25519 verification policy in front of every backend (libsodium, OpenSSL, WebCrypto, noble), so a device list
// or a tree head gets the same verdict on every client. Verifiers disagree exactly on the edges (Chalkias, Garillot,
// Nikolaenko, "Taming the many EdDSAs", 2020; ../shared/vectors/ed25519-speccheck): OpenSSL accepts small-order keys
// that libsodium refuses, noble's default is cofactored. No honest signer produces any of these, so refuse them all:
//   - S must be canonical: S < L (RFC 8032 §5.1.7, step 1);
//   - A and R must be canonical encodings (y < p, and not x = 0 with the sign bit set; RFC 8032 §5.1.3);
//   - R must not be a small-order point;
//   - A must be in the prime-order subgroup (not small-order, no torsion component).
// With A and R so restricted, the cofactored and the cofactorless equations agree, and every backend verifies the
// same equation. Checking A costs a scalar multiplication, so verdicts on keys are cached; the checks on R and S are
// byte comparisons.
import { ed25519 } from '@noble/curves/ed25519.js';

const P = 2n ** 255n - 19n;
/** The prime order of the base point (RFC 8032 §5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const le = (b: Uint8Array): bigint => {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
};
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Canonical y (< p) and not "x = 0 with the sign bit set" (y = 1 or y = p - 1 with bit 255 set). */
function canonicalPoint(b: Uint8Array): boolean {
  const signBit = (b[31]! & 0x80) !== 0;
  const y = le(b) & ((1n << 255n) - 1n);
  if (y >= P) return false;
  if (signBit && (y === 1n || y === P - 1n)) return false;
  return true;
}

/** The eight small-order points, canonically encoded: L·Q is the torsion part of a point Q. */
const smallOrder: ReadonlySet<string> = (() => {
  const Point = ed25519.Point;
  // Any point with a component of order 8 gives the whole torsion group as its multiples. y = 2 lies on the curve.
  for (let y = 2n; ; y++) {
    const bytes = new Uint8Array(32);
    for (let i = 0, v = y; i < 32; i++, v >>= 8n) bytes[i] = Number(v & 0xffn);
    let q;
    try {
      q = Point.fromBytes(bytes);
    } catch {
      continue;
    }
    const t = q.multiplyUnsafe(L - 1n).add(q); // L·Q (noble takes scalars below L)
    if (t.multiplyUnsafe(4n).is0()) continue; // order below 8
    const out = new Set<string>();
    let m = Point.ZERO;
    for (let i = 0; i < 8; i++, m = m.add(t)) out.add(hex(m.toBytes()));
    return out;
  }
})();

/** Verdicts on public keys (A), bounded: deriving one costs a scalar multiplication. */
const keyVerdicts = new Map<string, boolean>();
const MAX_CACHED_KEYS = 4096;

function acceptableKey(a: Uint8Array): boolean {
  const id = hex(a);
  const cached = keyVerdicts.get(id);
  if (cached !== undefined) return cached;
  let ok = false;
  if (canonicalPoint(a) && !smallOrder.has(id)) {
    try {
      ok = ed25519.Point.fromBytes(a).isTorsionFree();
    } catch {
      ok = false; // not on the curve
    }
  }
  if (keyVerdicts.size >= MAX_CACHED_KEYS) keyVerdicts.clear();
  keyVerdicts.set(id, ok);
  return ok;
}

/**
 * Whether a signature and key pass the policy above; only then may a backend's verify be asked. A backend then
 * decides whether the equation holds. Never throws.
 */
export function ed25519PolicyAllows(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const r = signature.subarray(0, 32);
  if (le(signature.subarray(32)) >= L) return false;
  if (!canonicalPoint(r) || smallOrder.has(hex(r))) return false;
  return acceptableKey(publicKey);
}
