// The schema of the device's local store, one migration per change, in order; a profile records how many it has
// applied and runs the rest when it is opened (profile-store.node.ts). Never edit one that has shipped: add another.
export const profileMigrations: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
  CREATE TABLE key_packages (ref TEXT PRIMARY KEY, public BLOB NOT NULL, private BLOB NOT NULL, last_resort INTEGER NOT NULL);
  CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    members TEXT NOT NULL,
    state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE messages (
    conversation TEXT NOT NULL,
    id TEXT NOT NULL,
    sender_user TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    direction TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (conversation, id)
  );
  CREATE INDEX messages_order ON messages(conversation, received_at);
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    payload BLOB NOT NULL,
    plaintext BLOB NOT NULL
  );
  CREATE TABLE pending_commits (
    conversation TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    commit_msg BLOB NOT NULL,
    welcome BLOB,
    adds TEXT NOT NULL,
    removes TEXT NOT NULL,
    new_state BLOB NOT NULL,
    new_members TEXT NOT NULL
  );
  CREATE TABLE known_users (
    user TEXT PRIMARY KEY,
    account_key BLOB NOT NULL,
    version INTEGER NOT NULL,
    first_seen INTEGER NOT NULL
  );
  `,
  // 2: which received messages have been shown (sync/watch print each exactly once, even across a crash).
  `ALTER TABLE messages ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;`,
  // 3: mail read state, attachments, resumable uploads, blobs named by outgoing messages.
  `
  ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
  ALTER TABLE messages ADD COLUMN read INTEGER NOT NULL DEFAULT 1;
  CREATE INDEX messages_kind ON messages(kind, id);
  CREATE TABLE attachments (
    id TEXT NOT NULL,
    conversation TEXT NOT NULL,
    message TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (id, conversation, message)
  );
  CREATE TABLE uploads (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    blob TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    chunk_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  ALTER TABLE outbox ADD COLUMN blobs TEXT NOT NULL DEFAULT '[]';
  `,
  // 4: group state in parts: the per-epoch base in conversations.state, the secret tree one node per row, so a
  // message saves one small row. 'full' marks a state still stored whole (written before this migration).
  `
  ALTER TABLE conversations ADD COLUMN state_format TEXT NOT NULL DEFAULT 'full';
  ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE secret_nodes (
    conversation TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (conversation, idx)
  );
  `,
  // 5: devices and administration: removals asked for by organisation-signed notices, and account-key changes seen.
  `
  CREATE TABLE pending_removals (
    conversation TEXT NOT NULL,
    device TEXT NOT NULL,
    PRIMARY KEY (conversation, device)
  );
  CREATE TABLE key_changes (
    user TEXT NOT NULL,
    old_key BLOB NOT NULL,
    new_key BLOB NOT NULL,
    at INTEGER NOT NULL
  );
  `,
  // 6: which queue items were processed, by seq, instead of one device-wide high-water mark: with several server
  // nodes a lower seq can become visible, or be pushed, after a higher one, and the mark skipped it. The old mark
  // stays as a fixed floor: everything at or below it was processed by an earlier version.
  `
  CREATE TABLE processed_seqs (seq INTEGER PRIMARY KEY);
  UPDATE meta SET key = 'processed_floor' WHERE key = 'last_seq';
  `,
  // 7: queue items this device could not read and skipped (acked), so the queue behind them moves on; kept so the
  // user can see what was lost and from whom (never the payload).
  `
  CREATE TABLE IF NOT EXISTS unreadable_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER,
    conversation TEXT,
    kind TEXT,
    from_user TEXT,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  `,
  // 8: when this device last committed fresh keys for its own leaf in each conversation (post-compromise healing).
  `
  CREATE TABLE IF NOT EXISTS key_updates (conversation TEXT PRIMARY KEY, at INTEGER NOT NULL);
  `,
  // 9: when the user last acknowledged (verified) a contact's account-key change; later changes are shown on every
  // command until then.
  `
  CREATE TABLE IF NOT EXISTS key_change_acks (user TEXT PRIMARY KEY, at INTEGER NOT NULL);
  `,
  // 10: the contest period. A contact's new account key waits here until it has stood unobjected for the policy's
  // period (or the user verified the new safety number); messages for that contact wait in held_sends meanwhile,
  // and are sent, or discarded with a note, when the contest ends.
  `
  CREATE TABLE IF NOT EXISTS key_contests (
    user TEXT PRIMARY KEY,
    account_key BLOB NOT NULL,
    first_seen INTEGER NOT NULL,
    retired_at INTEGER NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    refused TEXT
  );
  CREATE TABLE IF NOT EXISTS held_sends (
    id TEXT PRIMARY KEY,
    users TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    discarded TEXT,
    discarded_at INTEGER
  );
  `,
];
