// Fuzzing every decoder (targets.ts) with fast-check: seeds from corpus/ mutated (bit flips, inserted, deleted and
// repeated runs, splices of two seeds, interesting bytes), random bytes, and random CBOR values. Each input must be
// decoded or refused with a SealpostError, in time linear in its size. `npm test` runs a short pass;
// `npm run fuzz` runs SEALPOST_FUZZ_INPUTS in all (default 1,000,000) or for SEALPOST_FUZZ_SECONDS, and prints the
// worst time per KB it found.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCbor } from '@sealpost/protocol';
import { targets } from './targets.js';

const TOTAL = Number(process.env.SEALPOST_FUZZ_INPUTS ?? (process.env.npm_lifecycle_event === 'fuzz' ? 1_000_000 : 200 * targets.length));
const SECONDS = Number(process.env.SEALPOST_FUZZ_SECONDS ?? 0);
const perTarget = Math.ceil(TOTAL / targets.length);
/**
 * The linear-time bound: an input of n KB may take at most this many µs per KB, plus a fixed allowance for GC
 * pauses on a shared machine. Measured worst on honest inputs is ~1-5 µs/KB (docs/security.md, Fuzzing).
 */
const MAX_US_PER_KB = 500;
const ALLOWANCE_MS = 50;

const corpus = (name: string): Uint8Array[] => {
  const dir = join(import.meta.dirname, 'corpus', name);
  return readdirSync(dir).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
};
const allSeeds = targets.flatMap((t) => corpus(t.name));

/** One change to a byte string; positions are taken modulo its length when applied. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x5f, 0x9f, 0xbf, 0xc2, 0xd8, 0xf7, 0xfb) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
  // Repeat a run many times: how superlinear decoding shows itself (large counts, deep nesting, long strings).
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 2, max: 20_000 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), other: fc.nat(), from: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function apply(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = seed;
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) (b = b.slice())[at % b.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length > 0) (b = b.slice())[at % b.length] = m.value;
        break;
      case 'insert':
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + m.length));
        break;
      case 'repeat': {
        const run = b.subarray(at, at + m.length);
        if (run.length === 0) break;
        const times = Math.min(m.times, Math.floor((1 << 20) / run.length));
        const rep = new Uint8Array(run.length * times);
        for (let i = 0; i < times; i++) rep.set(run, i * run.length);
        b = concat(b.subarray(0, at), rep, b.subarray(at));
        break;
      }
      case 'splice': {
        const other = allSeeds[m.other % allSeeds.length]!;
        b = concat(b.subarray(0, at), other.subarray(m.from % (other.length + 1)));
        break;
      }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Random CBOR values of the shapes our decoders meet (maps with string keys, arrays, byte strings, numbers). */
const cborValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.constantFrom('t', 'r', 'c', 'e', 'id', 'p', 'v', 'type', 'items', 'seq', 'k', 'text', 'x'), tie('value'), { maxKeys: 6 }),
  ),
})).value;

const report: string[] = [];
afterAll(() => {
  if (report.length > 0) console.log(`fuzz (${TOTAL.toLocaleString('en')} inputs${SECONDS ? `, ${SECONDS} s` : ''}):\n${report.join('\n')}`);
});

describe('fuzz', () => {
  for (const target of targets) {
    it(`${target.name}: every input is decoded or refused with a stable code, in linear time`, async () => {
      const seeds = corpus(target.name);
      expect(seeds.length).toBeGreaterThan(0);
      const input = fc.oneof(
        { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([s, ms]) => apply(s, ms)) },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
        { weight: 2, arbitrary: cborValue.map((v) => encodeCbor(v)) },
      );
      let n = 0;
      let refused = 0;
      let worst = { usPerKb: 0, bytes: 0 };
      // Inputs of 64 KB or more, where fixed costs no longer dominate; the worst is timed again at the end.
      let worstLarge: { usPerKb: number; bytes: number; input: Uint8Array } = { usPerKb: 0, bytes: 0, input: new Uint8Array(0) };
      let largest = 0;
      const t0 = performance.now();
      await fc.assert(
        fc.asyncProperty(input, async (bytes) => {
          const start = performance.now();
          try {
            await target.run(bytes);
          } catch (err) {
            if (!(err instanceof Error) || err.name !== 'SealpostError') throw err;
            refused++;
          }
          const ms = performance.now() - start;
          n++;
          largest = Math.max(largest, bytes.length);
          const kb = Math.max(1, bytes.length / 1024);
          if (bytes.length >= 1024 && (ms * 1000) / kb > worst.usPerKb) worst = { usPerKb: (ms * 1000) / kb, bytes: bytes.length };
          if (bytes.length >= 65536 && (ms * 1000) / kb > worstLarge.usPerKb) worstLarge = { usPerKb: (ms * 1000) / kb, bytes: bytes.length, input: bytes };
          const budget = ALLOWANCE_MS + (MAX_US_PER_KB * kb) / 1000;
          if (ms > budget) {
            // One slow run can be a GC pause or a busy machine: the fastest of three more runs is the input's real cost.
            const retimed: number[] = [];
            for (let i = 0; i < 3; i++) {
              const t = performance.now();
              try {
                await target.run(bytes);
              } catch {
                // refused again: only its time matters here
              }
              retimed.push(performance.now() - t);
            }
            const best = Math.min(...retimed);
            if (best > budget) throw new Error(`${bytes.length} bytes took ${best.toFixed(1)} ms (fastest of 3 after ${ms.toFixed(1)} ms): more than linear time`);
          }
        }),
        { numRuns: SECONDS ? Number.MAX_SAFE_INTEGER : perTarget, ...(SECONDS ? { interruptAfterTimeLimit: (SECONDS * 1000) / targets.length, markInterruptAsFailure: false } : {}) },
      );
      const s = (performance.now() - t0) / 1000;
      // The single worst timing may be a GC pause: the median of seven more runs of that input is its real cost.
      const again: number[] = [];
      for (let i = 0; i < 7 && worstLarge.bytes > 0; i++) {
        const start = performance.now();
        try {
          await target.run(worstLarge.input);
        } catch {
          // refused, as during the run
        }
        again.push(((performance.now() - start) * 1000) / (worstLarge.bytes / 1024));
      }
      const median = again.sort((a, b) => a - b)[3] ?? 0;
      report.push(
        `  ${target.name.padEnd(15)} ${n.toLocaleString('en').padStart(9)} inputs, ${refused.toLocaleString('en').padStart(9)} refused, largest ${largest.toLocaleString('en')} B, worst ${worst.usPerKb.toFixed(1)} µs/KB (at ${worst.bytes.toLocaleString('en')} B), ≥ 64 KB ${worstLarge.usPerKb.toFixed(1)} µs/KB at ${worstLarge.bytes.toLocaleString('en')} B (median of 7 reruns ${median.toFixed(1)} µs/KB), ${s.toFixed(1)} s`,
      );
    }, 0);
  }
});
