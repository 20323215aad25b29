// SCIM 2.0 resources (RFC 7643) as Sealpost keeps them: a User is a Sealpost user (its SCIM id is the user id,
// `alice@example.org`), with the attributes the identity provider sent kept beside it; a Group is a name and its
// members, kept for the provider and mapped to nothing unless the organisation asks for it. What real providers send
// is taken as they send it: attribute names in any case, `active` as a string ("False"), extension schemas.
import { SealpostError } from '@sealpost/protocol';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** A SCIM error (RFC 7644 §3.12): the HTTP status and, for 400, a scimType. */
export class ScimError extends Error {
  constructor(
    readonly status: number,
    readonly scimType: 'invalidFilter' | 'invalidSyntax' | 'invalidPath' | 'invalidValue' | 'uniqueness' | 'mutability' | 'tooMany' | undefined,
    message: string,
  ) {
    super(message);
  }
}

export const scimErrorBody = (status: number, detail: string, scimType?: string) => ({ schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail });

/** What Sealpost errors mean in SCIM terms (never a 500 for something the request did). */
export function scimErrorFor(err: unknown): { status: number; body: ReturnType<typeof scimErrorBody> } {
  if (err instanceof ScimError) return { status: err.status, body: scimErrorBody(err.status, err.message, err.scimType) };
  if (err instanceof SealpostError) {
    const map: Partial<Record<string, [number, string | undefined]>> = {
      USER_EXISTS: [409, 'uniqueness'],
      USER_NOT_FOUND: [404, undefined],
      INVALID_INPUT: [400, 'invalidValue'],
      MALFORMED_FRAME: [400, 'invalidSyntax'],
      PAYLOAD_TOO_LARGE: [413, undefined],
      ADMIN_TOKEN_INVALID: [401, undefined],
      FORBIDDEN: [403, undefined],
      RATE_LIMITED: [429, undefined],
    };
    const [status, type] = map[err.code] ?? [500, undefined];
    return { status, body: scimErrorBody(status, `${err.message} [${err.code}]`, type) };
  }
  return { status: 500, body: scimErrorBody(500, 'internal error') };
}

/** The attributes a provider may send on a User, in their canonical case (keys are matched without case). */
const USER_ATTRIBUTES = [
  'schemas', 'id', 'externalId', 'meta', 'userName', 'name', 'displayName', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage',
  'locale', 'timezone', 'active', 'password', 'emails', 'phoneNumbers', 'ims', 'photos', 'addresses', 'groups', 'entitlements', 'roles', 'x509Certificates',
  ENTERPRISE_SCHEMA,
];
const GROUP_ATTRIBUTES = ['schemas', 'id', 'externalId', 'meta', 'displayName', 'members'];
/** Never kept: a password is no way into Sealpost, and groups of a user are read from the groups. */
const DROPPED = new Set(['password', 'groups', 'id', 'meta']);

/** A request body's attributes under their canonical names; an attribute SCIM does not define is refused. */
export function canonical(body: unknown, kind: 'User' | 'Group'): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'the body must be a JSON object');
  const known = kind === 'User' ? USER_ATTRIBUTES : GROUP_ATTRIBUTES;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const name = known.find((a) => a.toLowerCase() === k.toLowerCase());
    if (!name) throw new ScimError(400, 'invalidSyntax', `unknown attribute "${k.slice(0, 80)}" for a ${kind}`);
    if (!DROPPED.has(name)) out[name] = v;
  }
  return out;
}

/** `active` as providers send it: a boolean, or "True"/"False" in any case (Entra ID). */
export function activeValue(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw new ScimError(400, 'invalidValue', `active: expected true or false, got ${JSON.stringify(v)?.slice(0, 40)}`);
}

/** A user's id from a SCIM userName: `alice@<domain>` or `alice`; anything in another domain is refused. */
export function userIdOf(userName: unknown, domain: string): string {
  if (typeof userName !== 'string' || userName.length === 0 || userName.length > 320) throw new ScimError(400, 'invalidValue', 'userName: required, a string');
  const lower = userName.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at >= 0 && lower.slice(at + 1) !== domain) throw new ScimError(400, 'invalidValue', `userName: ${userName.slice(0, 80)} is not in this server's domain ${domain}`);
  return at >= 0 ? lower : `${lower}@${domain}`;
}

/** A display name from what the provider sent: displayName, else name.formatted, else given and family name. */
export function displayNameOf(attrs: Record<string, unknown>): string | undefined {
  const name = attrs.name as { formatted?: unknown; givenName?: unknown; familyName?: unknown } | undefined;
  const candidates = [attrs.displayName, name?.formatted, [name?.givenName, name?.familyName].filter((x) => typeof x === 'string').join(' ')];
  const found = candidates.find((c): c is string => typeof c === 'string' && c.trim().length > 0);
  return found?.trim().slice(0, 200);
}
