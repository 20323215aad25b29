// Organisation policy: the rules an admin sets (design.md, Admin). The server enforces what it can (device count,
// sizes, deleting stored ciphertext and blobs past retention); clients enforce the rest (local retention, a
// passphrase on the local store). One schema for the API, the store and the CLI's human-readable values.
import { z } from 'zod';
import { SealpostError } from '../errors.js';
import { limits } from '../limits.js';
import { isSuiteName, suiteNames, type SuiteName } from '../mls/ciphersuite.js';

export interface Policy {
  /** Devices one user may have at once (1 … limits.maxDevicesPerUser). */
  maxDevicesPerUser: number;
  /** How long a client keeps messages when the conversation sets nothing shorter; null: keep. */
  retentionDefaultMs: number | null;
  /** The longest any message is kept: clients delete older history, the server deletes older stored ciphertext and blobs; null: no limit. */
  retentionMaxMs: number | null;
  /** Largest attachment (ciphertext bytes) one upload may declare. */
  maxAttachmentBytes: number;
  /** Whether a device's local store must be encrypted with a passphrase. */
  requirePassphrase: boolean;
  /** How long an activation code stays valid. */
  activationCodeTtlMs: number;
  /** Key-transparency auditors clients may ask for co-signatures (URL and Ed25519 key, base64url). */
  ktAuditors: { url: string; key: string }[];
  /** How many of them must have co-signed a tree head before a client trusts it (0: none needed). */
  ktMinAuditorSignatures: number;
  /**
   * How often each device commits fresh keys for its own leaf in every conversation (an MLS update, RFC 9420 §12.4),
   * so a device whose keys leaked heals even when nobody joins or leaves; null: only on membership changes.
   */
  keyUpdateIntervalMs: number | null;
  /**
   * How long a contact's new account key (an admin reset in the key-transparency log) stands before a client uses
   * it, so that the account's own devices can object to a change they did not make. Clients never let a shorter
   * value take effect before the longer one they knew has passed (an operator cannot shorten it for one swap).
   */
  keyChangeContestMs: number;
  /**
   * Mail to people outside the organisation (design.md, Outside mail): 'openpgp-only' sends only what the device
   * could encrypt to every outside recipient's OpenPGP key; 'tls-allowed' also sends readable copies (over STARTTLS
   * where the receiving server offers it), after the sender is told so; 'off' sends nothing outside.
   */
  outsideMail: OutsideMailPolicy;
  /** Outside mails one user may submit per day (each recipient counts). */
  outsideMailPerDay: number;
  /** The organisation's OpenID Connect provider people sign in with to enroll a first device (null: not offered). */
  ssoIssuer: string | null;
  /** This server's client id at that provider (its secret is kept outside the database, like the server secret). */
  ssoClientId: string | null;
  /** Whether a user the identity provider deactivates over SCIM also has their devices wiped (always revoked). */
  scimDeactivateWipe: boolean;
  /** Whether each SCIM group is followed by an MLS conversation of its members (admin/group-membership.ts). */
  scimGroupConversations: boolean;
  /**
   * The MLS suite of new conversations (docs/post-quantum.md): pq-hybrid (X-Wing: X25519 + ML-KEM-768) or classic.
   * A conversation keeps its suite for life; devices publish KeyPackages of both either way.
   */
  conversationSuite: SuiteName;
}

export const outsideMailPolicies = ['openpgp-only', 'tls-allowed', 'off'] as const;
export type OutsideMailPolicy = (typeof outsideMailPolicies)[number];

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * The contest period when policy names none: a day, so that a device left off overnight still sees a key change
 * made in its name and objects before any contact uses the new key. Resets are rare, and a contact who compares
 * the new safety number with the person uses the key at once.
 */
export const DEFAULT_KEY_CHANGE_CONTEST_MS = DAY;
const ms = (max: number) => z.number().int().min(MINUTE).max(max);

/** The fields alone (for partial changes); `zPolicy` adds the rules between fields. */
export const zPolicyFields = z
  .object({
    maxDevicesPerUser: z.number().int().min(1).max(limits.maxDevicesPerUser),
    retentionDefaultMs: ms(100 * 365 * DAY).nullable(),
    retentionMaxMs: ms(100 * 365 * DAY).nullable(),
    maxAttachmentBytes: z.number().int().min(1024).max(1024 ** 4),
    requirePassphrase: z.boolean(),
    activationCodeTtlMs: ms(90 * DAY),
    ktAuditors: z
      .array(z.object({ url: z.string().url().max(300), key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a 32-byte key, base64url') }).strict())
      .max(8),
    ktMinAuditorSignatures: z.number().int().min(0).max(8),
    keyUpdateIntervalMs: z.number().int().min(10_000).max(365 * DAY).nullable(),
    keyChangeContestMs: z.number().int().min(1000).max(30 * DAY),
    outsideMail: z.enum(outsideMailPolicies),
    outsideMailPerDay: z.number().int().min(0).max(1_000_000),
    ssoIssuer: z.string().url().max(300).refine((u) => /^https:\/\//.test(u) || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(u), 'must be https (plain http only for a provider on this machine)').nullable(),
    ssoClientId: z.string().min(1).max(200).nullable(),
    scimDeactivateWipe: z.boolean(),
    scimGroupConversations: z.boolean(),
    conversationSuite: z.enum(suiteNames),
  })
  .strict();

export const zPolicy = zPolicyFields.refine((p) => p.ktMinAuditorSignatures <= p.ktAuditors.length, {
  message: 'kt-min-auditors must not exceed the number of kt-auditors',
}).refine((p) => p.retentionDefaultMs === null || p.retentionMaxMs === null || p.retentionDefaultMs <= p.retentionMaxMs, {
    message: 'retention-default must not be longer than retention-max',
  });

/** The setting names the CLI and API use, and the policy field each one sets. */
export const policySettings = {
  'max-devices': 'maxDevicesPerUser',
  'retention-default': 'retentionDefaultMs',
  'retention-max': 'retentionMaxMs',
  'max-attachment-size': 'maxAttachmentBytes',
  'require-passphrase': 'requirePassphrase',
  'activation-code-ttl': 'activationCodeTtlMs',
  'kt-auditors': 'ktAuditors',
  'kt-min-auditors': 'ktMinAuditorSignatures',
  'key-update-interval': 'keyUpdateIntervalMs',
  'key-change-contest': 'keyChangeContestMs',
  'outside-mail': 'outsideMail',
  'outside-mail-per-day': 'outsideMailPerDay',
  'sso-issuer': 'ssoIssuer',
  'sso-client-id': 'ssoClientId',
  'scim-deactivate-wipe': 'scimDeactivateWipe',
  'scim-group-conversations': 'scimGroupConversations',
  'conversation-suite': 'conversationSuite',
} as const satisfies Record<string, keyof Policy>;
export type PolicySetting = keyof typeof policySettings;

export const zPolicySetting = z.enum(Object.keys(policySettings) as [PolicySetting, ...PolicySetting[]]);

const durationUnits: Record<string, number> = { m: MINUTE, h: 60 * MINUTE, d: DAY, w: 7 * DAY };
const sizeUnits: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, kb: 1e3, mb: 1e6, gb: 1e9 };

/** "30d", "12h", "90m", "2w"; "off" or "none" for no limit (where allowed). */
export function parseDuration(text: string, allowOff: boolean): number | null {
  const t = text.trim().toLowerCase();
  if (allowOff && (t === 'off' || t === 'none')) return null;
  const m = /^(\d{1,6})(m|h|d|w)$/.exec(t);
  if (!m) throw new SealpostError('INVALID_INPUT', `duration: ${JSON.stringify(text.slice(0, 40))} is not like 90m, 12h, 30d or 2w${allowOff ? ' (or off)' : ''}`);
  return Number(m[1]) * durationUnits[m[2]!]!;
}

/** "100MiB", "2GiB", "512KiB", "1000000". */
export function parseSize(text: string): number {
  const m = /^(\d{1,13})\s*([a-z]*)$/.exec(text.trim().toLowerCase());
  const unit = m ? sizeUnits[m[2]!] : undefined;
  if (!m || unit === undefined) throw new SealpostError('INVALID_INPUT', `size: ${JSON.stringify(text.slice(0, 40))} is not like 100MiB, 2GiB or a number of bytes`);
  return Number(m[1]) * unit;
}

/** A size as a person reads it: "512 bytes", "1.5 KiB", "100 MiB", "2 GiB" (one decimal, none when whole). */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const shown = v.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${units[i]}`;
}

/** Turns `policy set KEY VALUE` into the one field it changes (the server validates the whole policy again). */
export function parsePolicySetting(key: string, value: string): Partial<Policy> {
  const setting = zPolicySetting.safeParse(key);
  if (!setting.success) {
    throw new SealpostError('INVALID_INPUT', `policy: unknown setting ${JSON.stringify(key.slice(0, 40))}; known: ${Object.keys(policySettings).join(', ')}`);
  }
  switch (setting.data) {
    case 'max-devices': {
      if (!/^\d{1,3}$/.test(value.trim())) throw new SealpostError('INVALID_INPUT', 'max-devices: give a whole number');
      return { maxDevicesPerUser: Number(value) };
    }
    case 'retention-default':
      return { retentionDefaultMs: parseDuration(value, true) };
    case 'retention-max':
      return { retentionMaxMs: parseDuration(value, true) };
    case 'max-attachment-size':
      return { maxAttachmentBytes: parseSize(value) };
    case 'require-passphrase': {
      const v = value.trim().toLowerCase();
      if (v !== 'true' && v !== 'false') throw new SealpostError('INVALID_INPUT', 'require-passphrase: give true or false');
      return { requirePassphrase: v === 'true' };
    }
    case 'activation-code-ttl':
      return { activationCodeTtlMs: parseDuration(value, false)! };
    case 'kt-auditors': {
      // "URL=KEY,URL=KEY" (the key an auditor prints), or "none".
      if (value.trim() === 'none' || value.trim() === '') return { ktAuditors: [] };
      return {
        ktAuditors: value.split(',').map((entry) => {
          const i = entry.lastIndexOf('=');
          if (i < 1) throw new SealpostError('INVALID_INPUT', 'kt-auditors: give URL=KEY entries, comma-separated (or none)');
          return { url: entry.slice(0, i).trim(), key: entry.slice(i + 1).trim() };
        }),
      };
    }
    case 'kt-min-auditors': {
      if (!/^\d$/.test(value.trim())) throw new SealpostError('INVALID_INPUT', 'kt-min-auditors: give a number 0 to 8');
      return { ktMinAuditorSignatures: Number(value) };
    }
    case 'key-update-interval': {
      // Seconds too ("30s"), for tests of healing; the schema keeps it at 10 s or more.
      const secs = /^(\d{1,6})s$/.exec(value.trim().toLowerCase());
      return { keyUpdateIntervalMs: secs ? Number(secs[1]) * 1000 : parseDuration(value, true) };
    }
    case 'key-change-contest': {
      // Seconds too ("5s"), for tests; the schema keeps it between 1 s and 30 days.
      const secs = /^(\d{1,7})s$/.exec(value.trim().toLowerCase());
      return { keyChangeContestMs: secs ? Number(secs[1]) * 1000 : parseDuration(value, false)! };
    }
    case 'outside-mail': {
      const v = value.trim().toLowerCase();
      if (!(outsideMailPolicies as readonly string[]).includes(v)) throw new SealpostError('INVALID_INPUT', `outside-mail: give one of ${outsideMailPolicies.join(', ')}`);
      return { outsideMail: v as OutsideMailPolicy };
    }
    case 'outside-mail-per-day': {
      if (!/^\d{1,7}$/.test(value.trim())) throw new SealpostError('INVALID_INPUT', 'outside-mail-per-day: give a whole number');
      return { outsideMailPerDay: Number(value) };
    }
    case 'sso-issuer': {
      const v = value.trim();
      return { ssoIssuer: v === 'off' || v === 'none' || v === '' ? null : v.replace(/\/+$/, '') };
    }
    case 'sso-client-id': {
      const v = value.trim();
      return { ssoClientId: v === 'off' || v === 'none' || v === '' ? null : v };
    }
    case 'scim-deactivate-wipe': {
      const v = value.trim().toLowerCase();
      if (v !== 'true' && v !== 'false') throw new SealpostError('INVALID_INPUT', 'scim-deactivate-wipe: give true or false');
      return { scimDeactivateWipe: v === 'true' };
    }
    case 'scim-group-conversations': {
      const v = value.trim().toLowerCase();
      if (v !== 'true' && v !== 'false') throw new SealpostError('INVALID_INPUT', 'scim-group-conversations: give true or false');
      return { scimGroupConversations: v === 'true' };
    }
    case 'conversation-suite': {
      const v = value.trim().toLowerCase();
      if (!isSuiteName(v)) throw new SealpostError('INVALID_INPUT', 'conversation-suite: give pq-hybrid or classic');
      return { conversationSuite: v };
    }
  }
}

/** Validates a whole policy (after merging a change); a clear error says which rule failed. */
export function checkPolicy(p: unknown): Policy {
  const r = zPolicy.safeParse(p);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // Said with the setting's name as the admin types it (`retention-max`), not the field behind it.
    const field = issue.path[0];
    const setting = Object.entries(policySettings).find(([, f]) => f === field)?.[0];
    const where = setting ? ` ${setting}${issue.path.length > 1 ? `.${issue.path.slice(1).join('.')}` : ''}` : '';
    throw new SealpostError('POLICY_INVALID', `policy${where}: ${issue.message}`);
  }
  return r.data;
}

/** Human-readable form for `policy get` (the JSON form carries the exact numbers). */
export function describePolicy(p: Policy): Record<PolicySetting, string> {
  const dur = (v: number | null) => (v === null ? 'off' : v % DAY === 0 ? `${v / DAY}d` : v % (60 * MINUTE) === 0 ? `${v / (60 * MINUTE)}h` : `${v / MINUTE}m`);
  const size = (v: number) => (v % 1024 ** 3 === 0 ? `${v / 1024 ** 3}GiB` : v % 1024 ** 2 === 0 ? `${v / 1024 ** 2}MiB` : `${v}`);
  return {
    'max-devices': String(p.maxDevicesPerUser),
    'retention-default': dur(p.retentionDefaultMs),
    'retention-max': dur(p.retentionMaxMs),
    'max-attachment-size': size(p.maxAttachmentBytes),
    'require-passphrase': String(p.requirePassphrase),
    'activation-code-ttl': dur(p.activationCodeTtlMs),
    'kt-auditors': p.ktAuditors.length === 0 ? 'none' : p.ktAuditors.map((a) => `${a.url}=${a.key}`).join(','),
    'kt-min-auditors': String(p.ktMinAuditorSignatures),
    'key-update-interval': p.keyUpdateIntervalMs !== null && p.keyUpdateIntervalMs % MINUTE !== 0 ? `${p.keyUpdateIntervalMs / 1000}s` : dur(p.keyUpdateIntervalMs),
    'key-change-contest': p.keyChangeContestMs % MINUTE !== 0 ? `${p.keyChangeContestMs / 1000}s` : dur(p.keyChangeContestMs),
    'outside-mail': p.outsideMail,
    'outside-mail-per-day': String(p.outsideMailPerDay),
    'sso-issuer': p.ssoIssuer ?? 'off',
    'sso-client-id': p.ssoClientId ?? 'off',
    'scim-deactivate-wipe': String(p.scimDeactivateWipe),
    'scim-group-conversations': String(p.scimGroupConversations),
    'conversation-suite': p.conversationSuite,
  };
}
