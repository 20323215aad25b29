// `sealpost admin …`: users (add, list, disable, enable, reset), devices (list, revoke, wipe, queue), policy, the
// audit log (with end-to-end verification), lookup for a lawful request, and admin credentials.
import type { Command } from 'commander';
import { SealpostError, parsePolicySetting, verifyAuditLog, type AuditEntry } from '@sealpost/protocol';
import { adminApi, jsonOption, serverOption, tokenOption, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';
import { oneLine } from '../terminal-safe.js';
import { size } from '../format.js';

type AdminOpts = { server?: string; token?: string } & JsonOpt;

interface AuditRow {
  seq: number;
  at: string;
  atMs: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, string | number | boolean | null>;
  prevHash: string;
  hash: string;
}

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

function withAdminOptions(cmd: Command): Command {
  return cmd.addOption(serverOption()).addOption(tokenOption()).addOption(jsonOption());
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('administer users (needs the admin token)');
  const adminUser = admin.command('user').description('users of this server');
  adminUser
    .command('add <user>')
    .description('create a user and print a one-time activation code')
    .option('--name <name>', 'display name')
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .option('--token <token>', 'admin token (env SEALPOST_ADMIN_TOKEN)')
    .addOption(jsonOption())
    .action(async (user: string, o: { name?: string; server?: string; token?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ user: string; activationCode: string; expiresAt: string }>(
        'POST',
        '/v1/admin/users',
        { user, ...(o.name ? { name: o.name } : {}) },
        { admin: token },
      );
      out.result(
        { user: res.user, activationCode: res.activationCode, expiresAt: res.expiresAt },
        `${res.user}: activation code ${res.activationCode} (one-time, expires ${res.expiresAt})`,
      );
    });
  adminUser
    .command('list')
    .description('list users')
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .option('--token <token>', 'admin token (env SEALPOST_ADMIN_TOKEN)')
    .addOption(jsonOption())
    .action(async (o: { server?: string; token?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ users: { user: string; name: string | null; status: string; devices: number; createdAt: string }[] }>(
        'GET',
        '/v1/admin/users',
        undefined,
        { admin: token },
      );
      for (const u of res.users) out.result(u, `${u.user}\t${u.status}\t${u.devices} device(s)\t${oneLine(u.name ?? '')}`.trimEnd());
    });

  // ---- users -------------------------------------------------------------------------------------------------
  for (const [verb, text] of [
    ['disable', 'disable a user: sessions end and the user cannot sign in until enabled'],
    ['enable', 'enable a disabled user'],
  ] as const) {
    withAdminOptions(adminUser.command(`${verb} <user>`).description(text)).action(async (user: string, o: AdminOpts) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ user: string; status: string }>('POST', `/v1/admin/users/${encodeURIComponent(user)}/${verb}`, {}, { admin: token });
      out.result(res, `${res.user}: ${res.status}`);
    });
  }

  withAdminOptions(
    adminUser
      .command('reset <user>')
      .description('for a user who lost every device: revoke all devices, retire the account key, issue a new activation code'),
  ).action(async (user: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ user: string; activationCode: string; expiresAt: string; devicesRevoked: string[] }>(
      'POST',
      `/v1/admin/users/${encodeURIComponent(user)}/reset`,
      {},
      { admin: token },
    );
    out.result(
      res,
      `${res.user}: reset; ${res.devicesRevoked.length} device(s) revoked; new activation code ${res.activationCode} (expires ${res.expiresAt}). ` +
        'Contacts will see this user\'s safety number change.',
    );
  });

  withAdminOptions(
    adminUser
      .command('reissue <user>')
      .description('a new activation code for a user who has not enrolled yet (the first expired, or was lost); nothing else changes'),
  ).action(async (user: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ user: string; activationCode: string; expiresAt: string }>(
      'POST',
      `/v1/admin/users/${encodeURIComponent(user)}/reissue`,
      {},
      { admin: token },
    );
    out.result(res, `${res.user}: new activation code ${res.activationCode} (expires ${res.expiresAt}); the old one no longer works`);
  });

  admin
    .command('backup')
    .description('a consistent copy of a running server\'s data folder (SQLite online backup, blobs, keys) that `sealpost server --data OUT` starts from')
    .option('--data <dir>', 'the server\'s data folder', 'sealpost-data')
    .requiredOption('--out <dir>', 'a new, empty folder for the copy')
    .addOption(jsonOption())
    .action(async (o: { data: string; out: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { backupDataFolder } = await import('@sealpost/server');
      const r = await backupDataFolder(o.data, o.out, (line) => out.info(line));
      out.result(
        { ...r },
        `backup of ${o.data} in ${r.out}: database ${size(r.databaseBytes)}, ${r.blobs} blobs (${size(r.blobBytes)}), ${r.keyFiles.join(', ')}; ` +
          `key-transparency epoch ${r.ktHead?.epoch ?? 'none'}. Keep server-secret apart from the rest; start from it with: sealpost server --data ${r.out}`,
      );
    });

  const kt = admin.command('kt').description('the key-transparency log');
  withAdminOptions(
    kt
      .command('restart')
      .description('after restoring an older backup: declare, signed by the organisation, that the log restarts from its current head (root token only; audited)')
      .requiredOption('--reason <text>', 'what happened, in words every user will see (at most 500 characters)'),
  ).action(async (o: AdminOpts & { reason: string }) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ at: string; reason: string; head: { size: number; root: string } }>('POST', '/v1/admin/kt/restart', { reason: o.reason }, { admin: token });
    out.result(
      res,
      `key-transparency restart declared at ${res.at} (head ${res.head.size}). Devices that saw a newer head accept it, tell their users, and keep every key they knew; ` +
        'devices enrolled after the backup are told to enroll again.',
    );
  });

  withAdminOptions(admin.command('lookup <user>').description('export what the server holds about one user (never content); recorded in the audit log')).action(
    async (user: string, o: AdminOpts) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<Record<string, unknown>>('GET', `/v1/admin/users/${encodeURIComponent(user)}/lookup`, undefined, { admin: token });
      out.result(res, JSON.stringify(res, null, 2));
    },
  );

  // ---- outside mail ------------------------------------------------------------------------------------------
  // ---- legal holds (docs/legal-hold.md) --------------------------------------------------------------------------
  withAdminOptions(
    admin.command('conversations').description('how many conversations use each MLS suite (pq-hybrid: post-quantum; classic) — metadata only'),
  ).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ bySuite: { classic: number; 'pq-hybrid': number }; total: number }>('GET', '/v1/admin/conversations', undefined, { admin: token });
    out.result(res, `${res.total} conversation(s): ${res.bySuite['pq-hybrid']} pq-hybrid (post-quantum), ${res.bySuite.classic} classic`);
  });

  const archive = admin.command('archive').description("the organisation's legal-hold archive account");
  withAdminOptions(
    archive
      .command('create')
      .description('create the archive account (sealpost-archive@DOMAIN) and print its one-time activation code for `sealpost archive --code`'),
  ).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ user: string; activationCode: string; expiresAt: string }>('POST', '/v1/admin/archive', {}, { admin: token });
    out.result(
      res,
      `${res.user}: activation code ${res.activationCode} (one-time, expires ${res.expiresAt}); ` +
        'start the archive where the records are kept: sealpost archive --server URL --data DIR --code CODE',
    );
  });

  type HoldRow = { id: string; user: string; reason: string; since: string; until: string | null; releasedAt: string | null; active?: boolean };
  const holdLine = (h: HoldRow) =>
    `${h.user}\t${h.releasedAt ? `released ${h.releasedAt}` : h.active === false ? 'ended' : 'on hold'}\tsince ${h.since}${h.until ? ` until ${h.until}` : ''}\t${oneLine(h.reason)}\t${h.id}`;
  const hold = admin.command('hold').description('legal holds: one named user each, visible to them and to everyone they talk to');
  withAdminOptions(
    hold
      .command('add <user>')
      .description("place a legal hold on one user: signed by the organisation key, published in the user's key-transparency record, in the audit log")
      .requiredOption('--reason <text>', 'why (shown to the user and to their contacts; at most 500 characters)')
      .option('--until <date>', 'when it ends by itself (ISO date or date-time, e.g. 2027-06-30)'),
  ).action(async (user: string, o: AdminOpts & { reason: string; until?: string }) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    let until: string | undefined;
    if (o.until !== undefined) {
      const t = Date.parse(o.until);
      if (Number.isNaN(t)) throw new SealpostError('INVALID_INPUT', `--until: not a date: ${oneLine(o.until).slice(0, 40)} (e.g. 2027-06-30 or 2027-06-30T17:00:00Z)`);
      until = new Date(t).toISOString();
    }
    const h = await api.request<HoldRow>('POST', '/v1/admin/holds', { user, reason: o.reason, ...(until ? { until } : {}) }, { admin: token });
    out.result(h, `${h.user}: on legal hold from ${h.since}${h.until ? ` until ${h.until}` : ''} (${h.id}); published in the key-transparency log`);
  });
  withAdminOptions(hold.command('list').description('every legal hold, current and released')).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ holds: HoldRow[] }>('GET', '/v1/admin/holds', undefined, { admin: token });
    if (res.holds.length === 0 && !o.json) out.result({}, 'no legal holds');
    for (const h of res.holds) out.result(h, holdLine(h));
  });
  withAdminOptions(hold.command('release <user>').description("release a user's legal hold (published in the key-transparency log, in the audit log)")).action(
    async (user: string, o: AdminOpts) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const h = await api.request<HoldRow>('POST', `/v1/admin/holds/${encodeURIComponent(user)}/release`, {}, { admin: token });
      out.result(h, `${h.user}: legal hold released at ${h.releasedAt} (${h.id})`);
    },
  );

  const mailAdmin = admin.command('mail').description('outside mail: the outbound queue and the DNS records to publish');
  withAdminOptions(mailAdmin.command('queue').description('what waits for delivery to outside servers (envelopes and state, never content)')).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ queue: { id: string; from: string; to: string[]; size: number; encrypted: boolean; attempts: number; nextAttemptAt: string; lastError: string | null }[] }>('GET', '/v1/admin/mail/queue', undefined, { admin: token });
    for (const q of res.queue) {
      out.result(q, `${q.id}  from ${q.from} to ${q.to.join(', ')}  ${q.size} bytes  ${q.encrypted ? 'encrypted' : 'readable'}  attempts ${q.attempts}, next ${q.nextAttemptAt}${q.lastError ? `\n    last error: ${oneLine(q.lastError)}` : ''}`);
    }
    if (res.queue.length === 0) out.info('the outbound queue is empty');
  });
  withAdminOptions(mailAdmin.command('dns').description('the DNS records to publish for mail (MX, SPF, DKIM, DMARC); makes the DKIM key on first use').option('--mx <host>', 'the host name outside servers reach the SMTP gateway at')).action(
    async (o: AdminOpts & { mx?: string }) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ records: { name: string; type: string; value: string; why: string }[] }>('GET', `/v1/admin/mail/dns${o.mx ? `?mx=${encodeURIComponent(o.mx)}` : ''}`, undefined, { admin: token });
      for (const r of res.records) out.result(r, `${r.name}  ${r.type}  "${r.value}"\n    ${r.why}`);
    },
  );

  // ---- devices -----------------------------------------------------------------------------------------------
  const device = admin.command('device').description("a user's devices");
  withAdminOptions(device.command('list <user>').description("list a user's devices")).action(async (user: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ devices: { id: string; name: string | null; status: string; createdAt: string; lastSeenAt: string | null }[] }>(
      'GET',
      `/v1/admin/users/${encodeURIComponent(user)}/devices`,
      undefined,
      { admin: token },
    );
    for (const d of res.devices) out.result(d, `${d.id}\t${d.status}\t${oneLine(d.name ?? '')}\tlast seen ${d.lastSeenAt ?? 'never'}`);
  });
  withAdminOptions(device.command('revoke <user> <device>').description('revoke a device: out of the directory and of every conversation')).action(
    async (user: string, id: string, o: AdminOpts) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ user: string; device: string; status: string }>(
        'POST',
        `/v1/admin/users/${encodeURIComponent(user)}/devices/${encodeURIComponent(id)}/revoke`,
        {},
        { admin: token },
      );
      out.result(res, `${res.device} of ${res.user}: revoked; its conversations remove it at the next member's action`);
    },
  );
  withAdminOptions(
    device.command('wipe <user> <device>').description('revoke a device now and have it erase its keys and messages when it next connects'),
  ).action(async (user: string, id: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ user: string; device: string; status: string }>(
      'POST',
      `/v1/admin/users/${encodeURIComponent(user)}/devices/${encodeURIComponent(id)}/wipe`,
      {},
      { admin: token },
    );
    out.result(res, `${res.device} of ${res.user}: revoked; signed wipe command waiting for it`);
  });

  withAdminOptions(
    device
      .command('queue <user> <device>')
      .description("what waits in a device's queue (sizes, senders, never content); --drop SEQ,… or --drop-all removes items that stopped it")
      .option('--drop <seqs>', 'comma-separated queue seqs to drop')
      .option('--drop-all', 'drop every item in the queue (the device then misses them for good)'),
  ).action(async (user: string, id: string, o: AdminOpts & { drop?: string; dropAll?: boolean }) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const path = `/v1/admin/users/${encodeURIComponent(user)}/devices/${encodeURIComponent(id)}/queue`;
    if (o.drop !== undefined || o.dropAll) {
      const seqs = o.drop?.split(',').map((x) => Number(x.trim()));
      if (seqs && seqs.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new SealpostError('INVALID_INPUT', '--drop takes queue seqs: positive integers, comma-separated');
      const res = await api.request<{ user: string; device: string; dropped: number }>('POST', `${path}/drop`, o.dropAll ? { all: true } : { seqs }, { admin: token });
      out.result(res, `${res.device} of ${res.user}: ${res.dropped} queue item(s) dropped (recorded in the audit log)`);
      return;
    }
    type Entry = { seq: number; conversation: string; kind: string; from: string; at: string; bytes: number };
    const res = await api.request<{ user: string; device: string; items: number; bytes: number; oldestAt: string | null; first: Entry[] }>('GET', path, undefined, { admin: token });
    const lines = [`${res.device} of ${res.user}: ${res.items} item(s), ${res.bytes} bytes, oldest ${res.oldestAt ?? '-'}`];
    for (const e of res.first) lines.push(`${e.seq}\t${e.kind}\t${e.bytes} B\tfrom ${e.from}\t${e.at}\t${e.conversation}`);
    out.result(res, lines.join('\n'));
  });

  // ---- policy ------------------------------------------------------------------------------------------------
  const policy = admin.command('policy').description('organisation policy');
  withAdminOptions(policy.command('get').description('show the policy')).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ policy: Record<string, unknown>; settings: Record<string, string> }>('GET', '/v1/admin/policy', undefined, { admin: token });
    out.result(res, Object.entries(res.settings).map(([k, v]) => `${k}\t${v}`).join('\n'));
  });
  withAdminOptions(
    policy
      .command('set <key> <value>')
      .description(
        'change one setting: max-devices N | retention-default 30d|off | retention-max 90d|off | max-attachment-size 100MiB | require-passphrase true|false | activation-code-ttl 7d | kt-auditors URL=KEY,… | kt-min-auditors N | key-update-interval 7d|off | key-change-contest 1d',
      ),
  ).action(async (key: string, value: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const change = parsePolicySetting(key, value);
    const { api, token } = adminApi(o);
    const res = await api.request<{ policy: Record<string, unknown>; settings: Record<string, string> }>('PUT', '/v1/admin/policy', { change }, { admin: token });
    out.result(res, `${key} = ${res.settings[key] ?? value}`);
  });

  // ---- audit log ---------------------------------------------------------------------------------------------
  withAdminOptions(
    admin
      .command('audit')
      .description('print the audit log of admin actions; --verify checks its hash chain end to end')
      .option('--verify', 'recompute every hash; exit non-zero if any entry was changed, removed or reordered')
      .option('--head <hash>', 'with --verify: a head hash noted earlier, which must still be in the log'),
  ).action(async (o: AdminOpts & { verify?: boolean; head?: string }) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const rows: AuditRow[] = [];
    for (let page = 0; page < 100_000; page++) {
      const res = await api.request<{ entries: AuditRow[] }>('GET', `/v1/admin/audit?after=${rows.length > 0 ? rows[rows.length - 1]!.seq : 0}&limit=1000`, undefined, {
        admin: token,
      });
      rows.push(...res.entries);
      if (res.entries.length < 1000) break;
    }
    if (!o.verify) {
      for (const r of rows) out.result({ ...r }, `${r.seq}\t${r.at}\t${r.actor}\t${r.action}\t${r.target}${Object.keys(r.details).length ? `\t${JSON.stringify(r.details)}` : ''}`);
      return;
    }
    if (o.head !== undefined && !/^[0-9a-f]{64}$/.test(o.head)) throw new SealpostError('INVALID_INPUT', '--head: 64 hex digits');
    const entries: AuditEntry[] = rows.map((r) => ({ ...r, at: r.atMs, prevHash: fromHex(r.prevHash), hash: fromHex(r.hash) }));
    const verdict = verifyAuditLog(entries, o.head ? fromHex(o.head) : undefined);
    if (verdict.kind === 'broken') {
      throw new SealpostError('AUDIT_LOG_TAMPERED', `audit log fails verification at entry ${verdict.seq}: ${verdict.reason}`);
    }
    const head = Buffer.from(verdict.head).toString('hex');
    out.result({ verified: true, entries: verdict.entries, head }, `audit log verified: ${verdict.entries} entries, head ${head}`);
  });

  // ---- admin credentials -------------------------------------------------------------------------------------
  const tokens = admin.command('token').description('named admin credentials (stored hashed; revocable)');
  withAdminOptions(
    tokens
      .command('create <name>')
      .description('create a named admin token with what it may do; it is printed once')
      .requiredOption('--scope <scopes>', 'comma-separated: users, devices, policy, audit, tokens, scim (a helpdesk token: users,devices; an identity provider\'s SCIM token: scim)'),
  ).action(async (name: string, o: AdminOpts & { scope: string }) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const scopes = o.scope.split(',').map((s) => s.trim()).filter(Boolean);
    const res = await api.request<{ name: string; token: string; scopes: string[] }>('POST', '/v1/admin/tokens', { name, scopes }, { admin: token });
    out.result(res, `admin token ${res.name}, may act on ${res.scopes.join(', ')} (shown once):\n  ${res.token}`);
  });
  withAdminOptions(
    tokens
      .command('rotate <name>')
      .description('replace the root token (only `root`): the old one stops working on every node; the new one is printed once and written to this node\'s admin-token file'),
  ).action(async (name: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    if (name !== 'root') throw new SealpostError('INVALID_INPUT', `only the root token is rotated; a named token is revoked (\`admin token revoke ${name}\`) and made anew`);
    const { api, token } = adminApi(o);
    const res = await api.request<{ name: string; token: string }>('POST', '/v1/admin/tokens/root/rotate', {}, { admin: token });
    out.result(res, `new root token (shown once; also in the server's data folder, admin-token); the old one no longer works:\n  ${res.token}`);
  });
  withAdminOptions(tokens.command('list').description('list admin tokens')).action(async (o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ tokens: { name: string; scopes: string[]; createdAt: string; revokedAt: string | null }[] }>('GET', '/v1/admin/tokens', undefined, { admin: token });
    for (const t of res.tokens) out.result(t, `${t.name}\t${t.revokedAt ? `revoked ${t.revokedAt}` : 'active'}\t${t.scopes.join(',')}\tcreated ${t.createdAt}`);
  });
  withAdminOptions(tokens.command('revoke <name>').description('revoke an admin token')).action(async (name: string, o: AdminOpts) => {
    const out = makeOutput(Boolean(o.json));
    const { api, token } = adminApi(o);
    const res = await api.request<{ name: string; status: string }>('POST', `/v1/admin/tokens/${encodeURIComponent(name)}/revoke`, {}, { admin: token });
    out.result(res, `admin token ${res.name}: revoked`);
  });
}
