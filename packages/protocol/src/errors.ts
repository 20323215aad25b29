// One error type for the whole system: a stable machine-readable code plus a human message.
// Servers map codes to HTTP statuses in exactly one place (server/src/http/errors.ts).

export const errorCodes = [
  // input
  'INVALID_INPUT',
  'MALFORMED_FRAME',
  'FRAME_TOO_LARGE',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_FRAME_TYPE',
  // auth
  'UNAUTHENTICATED',
  'AUTH_FAILED',
  'FORBIDDEN',
  'ADMIN_TOKEN_INVALID',
  // activation
  'ACTIVATION_CODE_INVALID',
  'ACTIVATION_CODE_EXPIRED',
  'ACTIVATION_ATTEMPTS_EXCEEDED',
  // directory
  'USER_EXISTS',
  'HOLD_EXISTS',
  'HOLD_NOT_FOUND',
  'ARCHIVE_NOT_READY',
  'ARCHIVE_NOT_ACKNOWLEDGED',
  'ARCHIVE_REFUSED',
  'ARCHIVE_LOG_BROKEN',
  'SSO_NOT_CONFIGURED',
  'SSO_FAILED',
  'SSO_EXPIRED',
  'SSO_HAS_DEVICE',
  'USER_NOT_FOUND',
  'USER_DISABLED',
  'DEVICE_EXISTS',
  'DEVICE_NOT_FOUND',
  'DEVICE_LIST_INVALID',
  'ACCOUNT_KEY_CHANGED',
  'KEY_CHANGE_PENDING',
  'DEVICE_NOT_TRUSTED',
  'NO_KEY_PACKAGE',
  'SUITE_UNSUPPORTED',
  'TOO_MANY_KEY_PACKAGES',
  'TOO_MANY_DEVICES',
  'DEVICE_REVOKED',
  'LINK_CODE_INVALID',
  'LINK_EXPIRED',
  'FINGERPRINT_MISMATCH',
  // administration
  'POLICY_INVALID',
  'AUDIT_LOG_TAMPERED',
  // key transparency
  'KT_VERIFICATION_FAILED',
  'KT_ALARM',
  'SAFETY_NUMBER_MISMATCH',
  'ADMIN_TOKEN_EXISTS',
  // delivery
  'CONVERSATION_EXISTS',
  'CONVERSATION_NOT_FOUND',
  'NOT_A_MEMBER',
  'EPOCH_CONFLICT',
  'DUPLICATE_MESSAGE',
  'TOO_MANY_CONNECTIONS',
  'RATE_LIMITED',
  // files and mail
  'BLOB_NOT_FOUND',
  'BLOB_TOO_LARGE',
  'QUOTA_EXCEEDED',
  'STORAGE_FULL',
  'UPLOAD_OFFSET_MISMATCH',
  'UPLOAD_INCOMPLETE',
  'FILE_CORRUPT',
  'FILE_TRUNCATED',
  'FILE_NOT_FOUND',
  'ATTACHMENT_NOT_FOUND',
  'MAIL_NOT_FOUND',
  'TOO_MANY_RECIPIENTS',
  'OUTSIDE_MAIL_DISABLED',
  'OUTSIDE_MAIL_NEEDS_KEY',
  'MAIL_KEYS_MISSING',
  'OPENPGP_INVALID',
  // client side
  'NOT_ENROLLED',
  'PROFILE_EXISTS',
  'PROFILE_LOCKED',
  'PASSPHRASE_REQUIRED',
  'PASSPHRASE_WRONG',
  'DEVICE_WIPED',
  'MLS_ERROR',
  'DECRYPT_FAILED',
  'SERVER_UNREACHABLE',
  'PROTOCOL_ERROR',
  'CONFIG_INVALID',
  'INSECURE_LISTEN',
  'LISTEN_FAILED',
  'STORE_TAMPERED',
  'WEB_APP_MISMATCH',
  'CANCELLED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

const codeSet: ReadonlySet<string> = new Set(errorCodes);

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && codeSet.has(x);
}

export class SealpostError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Narrow an unknown throwable to a SealpostError, wrapping anything else as INTERNAL. */
export function toSealpostError(err: unknown): SealpostError {
  if (err instanceof SealpostError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SealpostError('INTERNAL', message, { cause: err });
}
