// The bridge's own state beside a device profile (bridge.db, mode 0600): mailboxes with their UIDVALIDITY and
// UIDNEXT, which Sealpost mail has which UID in which mailbox, IMAP flags, each message's rendered size, and the
// bridge password's hash. UIDs and UIDVALIDITY are stored when first given and never recomputed, so a restart, a
// re-sync or an upgrade never makes a client download everything again. Metadata only: no subject, no text.
import Database from 'better-sqlite3';
import { chmodSync, existsSync } from 'node:fs';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { SealpostError } from '@sealpost/protocol';

export const MAILBOXES = [
  { name: 'INBOX', special: undefined },
  { name: 'Sent', special: '\\Sent' },
  { name: 'Drafts', special: '\\Drafts' },
  { name: 'Trash', special: '\\Trash' },
  { name: 'Archive', special: '\\Archive' },
] as const;
export type MailboxName = (typeof MAILBOXES)[number]['name'];

export interface IndexedMessage {
  mailbox: MailboxName;
  uid: number;
  mailId: string;
  thread: string;
  flags: string[];
  modseq: number;
  size: number | null;
  /** When the bridge first saw it (INTERNALDATE is the mail's date; this orders nothing). */
  addedAt: number;
  /** INTERNALDATE given when a mail program APPENDed it (a draft); otherwise the mail's own date. */
  internalDate?: number;
}

export interface MailboxState {
  name: MailboxName;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
}

const SCRYPT = { N: 16384, r: 8, p: 1 };

export class MailIndex {
  private constructor(readonly db: Database.Database) {}

  // Prepared once, reused: preparing costs more than running on a FETCH of thousands of messages.
  private readonly statements = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** Sizes learnt while answering FETCH, written together a moment later (a size can always be computed again). */
  private pendingSizes = new Map<string, number>();

  static open(profileDir: string): MailIndex {
    const file = join(profileDir, 'bridge.db');
    const fresh = !existsSync(file);
    const db = new Database(file, { timeout: 0 });
    if (fresh) chmodSync(file, 0o600);
    // One bridge per profile: this one holds bridge.db until it stops; a second is refused, not left to interleave.
    db.pragma('locking_mode = EXCLUSIVE');
    try {
      db.exec('BEGIN IMMEDIATE; COMMIT;');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new SealpostError('PROFILE_LOCKED', 'another sealpost bridge is running on this profile; stop it first');
      throw err;
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrate(db);
    const index = new MailIndex(db);
    // UIDVALIDITY: when the mailbox was made, in seconds (RFC 3501 §2.3.1.1), once.
    const base = Math.floor(Date.now() / 1000);
    const ins = db.prepare('INSERT OR IGNORE INTO mailboxes (name, uidvalidity, uidnext, modseq) VALUES (?, ?, 1, 1)');
    MAILBOXES.forEach((m, i) => ins.run(m.name, base + i));
    return index;
  }

  close(): void {
    this.flushSizes();
    this.db.close();
  }

  // ---- the bridge password -----------------------------------------------------------------------------------------

  hasPassword(): boolean {
    return this.stmt("SELECT 1 FROM meta WHERE key = 'password'").get() !== undefined;
  }

  /** A new random password: returned once, kept as a scrypt hash. */
  newPassword(): string {
    const password = randomBytes(15).toString('base64url');
    const salt = randomBytes(16);
    const hash = scryptSync(password, salt, 32, SCRYPT);
    this.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('password', ?)").run(`${salt.toString('base64')}.${hash.toString('base64')}`);
    return password;
  }

  checkPassword(password: string): boolean {
    const row = this.stmt("SELECT value FROM meta WHERE key = 'password'").get() as { value: string } | undefined;
    if (!row || password.length > 256) return false;
    const [salt, hash] = row.value.split('.');
    const got = scryptSync(password, Buffer.from(salt!, 'base64'), 32, SCRYPT);
    return timingSafeEqual(got, Buffer.from(hash!, 'base64'));
  }

  // ---- mailboxes and messages --------------------------------------------------------------------------------------

  mailbox(name: string): MailboxState | undefined {
    const canonical = name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
    const r = this.stmt('SELECT * FROM mailboxes WHERE name = ?').get(canonical) as { name: MailboxName; uidvalidity: number; uidnext: number; modseq: number } | undefined;
    return r ? { name: r.name, uidValidity: r.uidvalidity, uidNext: r.uidnext, highestModseq: r.modseq } : undefined;
  }

  /**
   * The mailbox's messages in UID order (their position is the message sequence number). Kept between writes: every
   * IMAP command asks for it, and this process is bridge.db's only user (open() holds it exclusively).
   */
  messages(mailbox: MailboxName): IndexedMessage[] {
    let list = this.listed.get(mailbox);
    if (!list) this.listed.set(mailbox, (list = (this.stmt('SELECT * FROM messages WHERE mailbox = ? ORDER BY uid').all(mailbox) as Row[]).map(fromRow)));
    return list;
  }

  private readonly listed = new Map<string, IndexedMessage[]>();
  /** A write: the lists read before it are read again. */
  private changed(): void {
    this.listed.clear();
  }

  /** A size learnt but not yet written. */
  sizeOf(m: IndexedMessage): number | null {
    return m.size ?? this.pendingSizes.get(m.mailId) ?? null;
  }

  byMailId(mailId: string): IndexedMessage | undefined {
    const r = this.stmt('SELECT * FROM messages WHERE mail_id = ?').get(mailId) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  allMailIds(): Set<string> {
    return new Set((this.stmt('SELECT mail_id FROM messages').all() as { mail_id: string }[]).map((r) => r.mail_id));
  }

  /** A mail new to the bridge: the mailbox's next UID, in one transaction. */
  add(mailbox: MailboxName, mailId: string, thread: string, flags: string[], internalDate?: number): IndexedMessage {
    this.changed();
    return this.db.transaction(() => {
      const box = this.mailbox(mailbox)!;
      const modseq = box.highestModseq + 1;
      this.stmt('UPDATE mailboxes SET uidnext = ?, modseq = ? WHERE name = ?').run(box.uidNext + 1, modseq, mailbox);
      this.stmt('INSERT INTO messages (mailbox, uid, mail_id, thread, flags, modseq, size, added_at, internal_date) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)')
        .run(mailbox, box.uidNext, mailId, thread, [...new Set(flags)].join(' '), modseq, Date.now(), internalDate ?? null);
      return this.byMailId(mailId)!;
    })();
  }

  setFlags(mailId: string, flags: string[]): IndexedMessage {
    this.changed();
    return this.db.transaction(() => {
      const m = this.byMailId(mailId)!;
      const modseq = this.mailbox(m.mailbox)!.highestModseq + 1;
      this.stmt('UPDATE mailboxes SET modseq = ? WHERE name = ?').run(modseq, m.mailbox);
      this.stmt('UPDATE messages SET flags = ?, modseq = ? WHERE mail_id = ?').run([...new Set(flags)].join(' '), modseq, mailId);
      return this.byMailId(mailId)!;
    })();
  }

  setSize(mailId: string, size: number): void {
    if (this.pendingSizes.size === 0) setImmediate(() => this.flushSizes());
    this.pendingSizes.set(mailId, size);
  }

  private flushSizes(): void {
    if (!this.db.open || this.pendingSizes.size === 0) return;
    this.changed();
    const sizes = this.pendingSizes;
    this.pendingSizes = new Map();
    const up = this.stmt('UPDATE messages SET size = ? WHERE mail_id = ?');
    this.db.transaction(() => {
      for (const [id, size] of sizes) up.run(size, id);
    })();
  }

  /** MOVE: the message leaves its mailbox and gets the target's next UID (RFC 6851). */
  move(mailId: string, to: MailboxName): IndexedMessage {
    this.changed();
    return this.db.transaction(() => {
      const m = this.byMailId(mailId)!;
      const box = this.mailbox(to)!;
      const modseq = box.highestModseq + 1;
      this.stmt('UPDATE mailboxes SET uidnext = ?, modseq = ? WHERE name = ?').run(box.uidNext + 1, modseq, to);
      this.stmt('UPDATE messages SET mailbox = ?, uid = ?, modseq = ? WHERE mail_id = ?').run(to, box.uidNext, modseq, mailId);
      return this.byMailId(mailId)!;
    })();
  }

  remove(mailId: string): void {
    this.changed();
    this.stmt('DELETE FROM messages WHERE mail_id = ?').run(mailId);
  }
}

/**
 * bridge.db's layout, one step per version (PRAGMA user_version), each run once in a transaction. A step only adds:
 * the UIDs and UIDVALIDITY a client has seen are never renumbered by an upgrade.
 */
export const MIGRATIONS: string[] = [
  // 1: the first layout (bridge.db files from before versioning have these tables and user_version 0).
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS mailboxes (name TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL, modseq INTEGER NOT NULL);
   CREATE TABLE IF NOT EXISTS messages (
     mailbox TEXT NOT NULL, uid INTEGER NOT NULL, mail_id TEXT NOT NULL UNIQUE, thread TEXT NOT NULL,
     flags TEXT NOT NULL, modseq INTEGER NOT NULL, size INTEGER, added_at INTEGER NOT NULL,
     PRIMARY KEY (mailbox, uid)
   );`,
  // 2: drafts a mail program saved keep the INTERNALDATE it gave in APPEND.
  `ALTER TABLE messages ADD COLUMN internal_date INTEGER;`,
];

function migrate(db: Database.Database): void {
  const at = db.pragma('user_version', { simple: true }) as number;
  if (at > MIGRATIONS.length) throw new Error(`bridge.db is from a newer Sealpost (layout ${at}; this one knows up to ${MIGRATIONS.length}): upgrade Sealpost`);
  for (let v = at; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

type Row = Record<string, unknown>;
function fromRow(r: Row): IndexedMessage {
  return {
    mailbox: r.mailbox as MailboxName,
    uid: r.uid as number,
    mailId: r.mail_id as string,
    thread: r.thread as string,
    flags: (r.flags as string).split(' ').filter(Boolean),
    modseq: r.modseq as number,
    size: (r.size as number | null) ?? null,
    addedAt: r.added_at as number,
    ...(typeof r.internal_date === 'number' ? { internalDate: r.internal_date } : {}),
  };
}
