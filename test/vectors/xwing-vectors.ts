// The CFRG X-Wing draft's test vectors (xwing-draft-connolly-cfrg.json, provenance in README.md), for the tests that
// run them against an X-Wing implementation.
import { readFileSync } from 'node:fs';

export interface XWingVector {
  seed: string;
  eseed: string;
  ss: string;
  sk: string;
  pk: string;
  ct: string;
}

export const xwingVectors = JSON.parse(readFileSync(new URL('./xwing-draft-connolly-cfrg.json', import.meta.url), 'utf8')) as XWingVector[];
export const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
export const toHex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');
