// Versioned schema migrations for the PostgreSQL store; the same model as sqlite-migrations.ts. Append only.

export const postgresMigrations: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE users (
        "user" TEXT PRIMARY KEY,
        name TEXT,
        status TEXT NOT NULL DEFAULT 'active',
        created_at BIGINT NOT NULL
      );
      CREATE TABLE activation_codes (
        "user" TEXT PRIMARY KEY REFERENCES users("user"),
        code_hash BYTEA NOT NULL,
        expires_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        used_at BIGINT
      );
      CREATE TABLE device_lists (
        "user" TEXT PRIMARY KEY REFERENCES users("user"),
        version BIGINT NOT NULL,
        account_key BYTEA NOT NULL,
        body BYTEA NOT NULL,
        signature BYTEA NOT NULL
      );
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users("user"),
        name TEXT,
        signature_key BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT
      );
      CREATE INDEX devices_user ON devices("user");
      CREATE TABLE key_packages (
        seq BIGSERIAL,
        ref TEXT PRIMARY KEY,
        device TEXT NOT NULL REFERENCES devices(id),
        data BYTEA NOT NULL,
        last_resort BOOLEAN NOT NULL DEFAULT FALSE
      );
      CREATE INDEX key_packages_device ON key_packages(device, last_resort, seq);
      CREATE TABLE auth_challenges (
        device TEXT NOT NULL,
        challenge BYTEA NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (device, challenge)
      );
      CREATE TABLE sessions (
        token_hash BYTEA PRIMARY KEY,
        device TEXT NOT NULL REFERENCES devices(id),
        expires_at BIGINT NOT NULL
      );
      CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        epoch BIGINT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE conversation_members (
        conversation TEXT NOT NULL REFERENCES conversations(id),
        device TEXT NOT NULL,
        PRIMARY KEY (conversation, device)
      );
      CREATE TABLE conversation_epochs (
        conversation TEXT NOT NULL REFERENCES conversations(id),
        epoch BIGINT NOT NULL,
        commit_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (conversation, epoch)
      );
      CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        conversation TEXT NOT NULL,
        kind TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        msg_id TEXT NOT NULL,
        sender_device TEXT NOT NULL,
        sender_user TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        payload BYTEA NOT NULL
      );
      CREATE UNIQUE INDEX messages_dedupe ON messages(conversation, kind, msg_id);
      CREATE TABLE queue (
        seq BIGSERIAL PRIMARY KEY,
        device TEXT NOT NULL,
        message BIGINT NOT NULL REFERENCES messages(id)
      );
      CREATE INDEX queue_device ON queue(device, seq);
      CREATE INDEX queue_message ON queue(message);
    `,
  },
  {
    version: 2,
    name: 'blobs',
    sql: `
      CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        owner_user TEXT NOT NULL,
        owner_device TEXT NOT NULL,
        size BIGINT NOT NULL,
        received BIGINT NOT NULL DEFAULT 0,
        complete BOOLEAN NOT NULL DEFAULT FALSE,
        created_at BIGINT NOT NULL,
        completed_at BIGINT
      );
      CREATE INDEX blobs_owner ON blobs(owner_user);
      CREATE INDEX blobs_incomplete ON blobs(complete, created_at);
      CREATE TABLE blob_grants (
        blob TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        PRIMARY KEY (blob, device)
      );
      CREATE INDEX blob_grants_device ON blob_grants(device);
    `,
  },
  {
    version: 3,
    name: 'presence',
    sql: `
      CREATE TABLE device_presence (
        device TEXT NOT NULL,
        node TEXT NOT NULL,
        since BIGINT NOT NULL,
        PRIMARY KEY (device, node)
      );
      CREATE INDEX device_presence_node ON device_presence(node);
    `,
  },
  {
    version: 4,
    name: 'devices-and-admin',
    sql: `
      ALTER TABLE devices ADD COLUMN revoked_at BIGINT;
      CREATE TABLE device_links (
        code_hash BYTEA PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users("user"),
        device TEXT NOT NULL,
        name TEXT,
        signature_key BYTEA NOT NULL,
        hpke_key BYTEA NOT NULL,
        key_packages BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        sealed BYTEA
      );
      CREATE INDEX device_links_user ON device_links("user", expires_at);
      CREATE TABLE wipes (
        device TEXT PRIMARY KEY,
        command BYTEA NOT NULL,
        signature BYTEA NOT NULL,
        issued_at BIGINT NOT NULL,
        confirmed_at BIGINT
      );
      CREATE TABLE admin_tokens (
        name TEXT PRIMARY KEY,
        token_hash BYTEA NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash BYTEA NOT NULL,
        hash BYTEA NOT NULL
      );
      -- Every account-signed device list a user has published: a client checking a commit made before a device
      -- was removed finds that device in the list of its time.
      CREATE TABLE device_list_versions (
        "user" TEXT NOT NULL,
        version BIGINT NOT NULL,
        body BYTEA NOT NULL,
        signature BYTEA NOT NULL,
        PRIMARY KEY ("user", version)
      );
      INSERT INTO device_list_versions ("user", version, body, signature) SELECT "user", version, body, signature FROM device_lists;
      CREATE INDEX messages_created ON messages(created_at);
      CREATE INDEX blobs_created ON blobs(complete, completed_at);
    `,
  },
  {
    version: 5,
    name: 'key-transparency',
    sql: `
      -- Users whose account record changed since the last published epoch; seq guards against a change that
      -- lands while the publisher works (it deletes only the seq it read).
      CREATE TABLE kt_pending (
        "user" TEXT PRIMARY KEY,
        seq BIGINT NOT NULL
      );
      INSERT INTO kt_pending ("user", seq) SELECT "user", 1 FROM device_lists;
      CREATE TABLE kt_epochs (
        epoch BIGINT PRIMARY KEY,
        timestamp BIGINT NOT NULL,
        prefix_root BYTEA NOT NULL,
        log_root BYTEA NOT NULL,
        signature BYTEA NOT NULL
      );
      CREATE TABLE kt_updates (
        epoch BIGINT NOT NULL REFERENCES kt_epochs(epoch),
        label TEXT NOT NULL,
        version BIGINT NOT NULL,
        value BYTEA NOT NULL,
        opening BYTEA NOT NULL,
        vrf_index BYTEA NOT NULL,
        PRIMARY KEY (label, version)
      );
      CREATE INDEX kt_updates_epoch ON kt_updates(epoch);
    `,
  },
  {
    version: 6,
    name: 'key-transparency-next-indexes',
    sql: `
      -- The VRF output of each label's next version, computed ahead (right after an epoch, or when a user is
      -- created) by whichever node, so that no node pays for it inside an epoch, even after a restart.
      CREATE TABLE kt_next_index (
        label TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        vrf_index BYTEA NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'admin-token-scopes',
    sql: `
      -- What a named admin token may do: comma-separated scopes (users, devices, policy, audit, tokens); NULL for a
      -- token made before scopes existed, which keeps every scope.
      ALTER TABLE admin_tokens ADD COLUMN scopes TEXT;
    `,
  },
  {
    version: 8,
    name: 'outside-mail',
    sql: `
      -- Outside mail waiting for delivery, sealed at rest with a server key; the envelope stays readable for retries.
      CREATE TABLE outbound_mail (
        id TEXT PRIMARY KEY,
        "user" TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        payload BYTEA NOT NULL,
        size BIGINT NOT NULL,
        encrypted BOOLEAN NOT NULL,
        queued_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        last_error TEXT,
        recipient_count INTEGER NOT NULL
      );
      CREATE INDEX outbound_due ON outbound_mail(next_attempt_at);
      CREATE INDEX outbound_user ON outbound_mail("user", queued_at);
      -- What each user sent outside per day survives delivery (the queue row goes once delivered).
      CREATE TABLE outbound_sent (
        "user" TEXT NOT NULL,
        at BIGINT NOT NULL,
        recipients INTEGER NOT NULL
      );
      CREATE INDEX outbound_sent_user ON outbound_sent("user", at);
    `,
  },
  {
    version: 9,
    name: 'legal-holds',
    sql: `
      -- Each organisation-signed statement of a legal hold (made, then released), kept as signed: the latest one
      -- of a user is what their account record in the key-transparency log commits to; the earlier ones let the
      -- user's own devices check every version of their record.
      CREATE TABLE legal_holds (
        hold_id TEXT NOT NULL,
        "user" TEXT NOT NULL,
        released BOOLEAN NOT NULL,
        body BYTEA NOT NULL,
        signature BYTEA NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (hold_id, released)
      );
      CREATE INDEX legal_holds_user ON legal_holds("user", at);
    `,
  },
  {
    version: 10,
    name: 'scim',
    sql: `
      -- What the organisation's identity provider sent over SCIM, kept for it: a User's attributes beside the Sealpost
      -- user (its id is the user id), Groups, and the ids of users it deleted (never given to anyone else).
      CREATE TABLE scim_resources (
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        external_id TEXT,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (type, id)
      );
    `,
  },
  {
    version: 11,
    name: 'suites',
    sql: `
      -- Post-quantum conversations (docs/post-quantum.md): each KeyPackage is of one MLS suite (a device keeps a stock
      -- of each, and a last-resort one of each), and each conversation says the suite its creator chose — metadata the
      -- admin counts, never used to decide anything a client checks.
      ALTER TABLE key_packages ADD COLUMN suite TEXT NOT NULL DEFAULT 'classic';
      ALTER TABLE conversations ADD COLUMN suite TEXT;
    `,
  },
];
