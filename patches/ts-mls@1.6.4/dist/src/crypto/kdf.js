// ts-mls 1.6.4 dist/src/crypto/kdf.js, patched by Sealpost (scripts/patch-deps.mjs; docs/performance.md).
// Upstream builds a new encoder and a new TextEncoder for every KDFLabel; an application message derives ten of them
// on each side. Here the label bytes are cached (bounded), and a KDFLabel whose label and context are each under 64
// bytes (every label MLS derives) is written directly; anything longer takes upstream's encoder. The bytes are the same
// (RFC 9420 §8: struct { uint16 length; opaque label<V>; opaque context<V>; } KDFLabel), checked by the MLS
// crypto-basics, secret-tree, key-schedule and message-protection vectors.
import { varLenDataEncoder } from "../codec/variableLength.js";
import { encodeUint32, uint16Encoder } from "../codec/number.js";
import { composeBufferEncoders, encode } from "../codec/tlsEncoder.js";
const kdfLabelEncoder = encode(composeBufferEncoders([uint16Encoder, varLenDataEncoder, varLenDataEncoder]));
const labelBytes = new Map();
const MAX_CACHED_LABELS = 64;
function fullLabel(label) {
    let bytes = labelBytes.get(label);
    if (bytes === undefined) {
        bytes = new TextEncoder().encode(`MLS 1.0 ${label}`);
        if (labelBytes.size < MAX_CACHED_LABELS)
            labelBytes.set(label, bytes);
    }
    return bytes;
}
export function expandWithLabel(secret, label, context, length, kdf) {
    const l = fullLabel(label);
    if (l.length >= 64 || context.length >= 64 || length > 0xffff)
        return kdf.expand(secret, kdfLabelEncoder([length, l, context]), length);
    // uint16 length, then each opaque<V> with its one-byte variable-length prefix (RFC 9000 §16: 00xxxxxx).
    const info = new Uint8Array(4 + l.length + context.length);
    info[0] = length >> 8;
    info[1] = length & 0xff;
    info[2] = l.length;
    info.set(l, 3);
    info[3 + l.length] = context.length;
    info.set(context, 4 + l.length);
    return kdf.expand(secret, info, length);
}
export async function deriveSecret(secret, label, kdf) {
    return expandWithLabel(secret, label, new Uint8Array(), kdf.size, kdf);
}
export async function deriveTreeSecret(secret, label, generation, length, kdf) {
    return expandWithLabel(secret, label, encodeUint32(generation), length, kdf);
}
