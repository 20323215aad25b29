// What the PostgreSQL adapter's files share: a client inside a transaction, and bytes as pg wants them.
import type pg from 'pg';

export type Db = pg.PoolClient;

/** A Uint8Array as a Buffer over the same memory (what pg sends as bytea). */
export const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
