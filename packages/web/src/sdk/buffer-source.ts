// WebCrypto's and fetch's types want views over an ArrayBuffer (not a SharedArrayBuffer); ours always are.
export const bs = (u: Uint8Array): Uint8Array<ArrayBuffer> => u as Uint8Array<ArrayBuffer>;
