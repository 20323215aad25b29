// The only place that turns an error code into an HTTP status and the `{ error: { code, message } }` body.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SealpostError, type ErrorCode } from '@sealpost/protocol';

// Exhaustive on purpose: a new error code does not compile until it has a status here.
const status: Record<ErrorCode, number> = {
  INVALID_INPUT: 400,
  POLICY_INVALID: 400,
  MALFORMED_FRAME: 400,
  UNKNOWN_FRAME_TYPE: 400,
  DEVICE_LIST_INVALID: 400,
  MLS_ERROR: 400,
  UNAUTHENTICATED: 401,
  AUTH_FAILED: 401,
  ADMIN_TOKEN_INVALID: 401,
  ACTIVATION_CODE_INVALID: 403,
  ACTIVATION_CODE_EXPIRED: 403,
  LINK_EXPIRED: 410,
  ACTIVATION_ATTEMPTS_EXCEEDED: 403,
  FORBIDDEN: 403,
  USER_DISABLED: 403,
  DEVICE_REVOKED: 403,
  NOT_A_MEMBER: 403,
  USER_NOT_FOUND: 404,
  DEVICE_NOT_FOUND: 404,
  CONVERSATION_NOT_FOUND: 404,
  LINK_CODE_INVALID: 404,
  BLOB_NOT_FOUND: 404,
  NO_KEY_PACKAGE: 409,
  SUITE_UNSUPPORTED: 409,
  USER_EXISTS: 409,
  HOLD_EXISTS: 409,
  HOLD_NOT_FOUND: 404,
  ARCHIVE_NOT_READY: 409,
  ARCHIVE_NOT_ACKNOWLEDGED: 409,
  ARCHIVE_REFUSED: 403,
  ARCHIVE_LOG_BROKEN: 500,
  SSO_NOT_CONFIGURED: 409,
  SSO_FAILED: 401,
  SSO_EXPIRED: 401,
  SSO_HAS_DEVICE: 409,
  ADMIN_TOKEN_EXISTS: 409,
  TOO_MANY_DEVICES: 409,
  DEVICE_EXISTS: 409,
  CONVERSATION_EXISTS: 409,
  EPOCH_CONFLICT: 409,
  DUPLICATE_MESSAGE: 409,
  UPLOAD_OFFSET_MISMATCH: 409,
  UPLOAD_INCOMPLETE: 409,
  FRAME_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  BLOB_TOO_LARGE: 413,
  QUOTA_EXCEEDED: 413,
  STORAGE_FULL: 507,
  TOO_MANY_KEY_PACKAGES: 429,
  TOO_MANY_CONNECTIONS: 429,
  RATE_LIMITED: 429,
  // Codes that only clients raise; a server never answers with them, but if one leaks it is a server fault.
  ACCOUNT_KEY_CHANGED: 500,
  KEY_CHANGE_PENDING: 500,
  DEVICE_NOT_TRUSTED: 500,
  NOT_ENROLLED: 500,
  PROFILE_EXISTS: 500,
  PROFILE_LOCKED: 500,
  DECRYPT_FAILED: 500,
  SERVER_UNREACHABLE: 500,
  PROTOCOL_ERROR: 500,
  CONFIG_INVALID: 500,
  INSECURE_LISTEN: 500,
  LISTEN_FAILED: 500,
  STORE_TAMPERED: 500,
  WEB_APP_MISMATCH: 409,
  CANCELLED: 400,
  FILE_CORRUPT: 500,
  FILE_TRUNCATED: 500,
  FILE_NOT_FOUND: 500,
  ATTACHMENT_NOT_FOUND: 500,
  MAIL_NOT_FOUND: 500,
  TOO_MANY_RECIPIENTS: 400,
  OUTSIDE_MAIL_DISABLED: 403,
  OUTSIDE_MAIL_NEEDS_KEY: 403,
  MAIL_KEYS_MISSING: 409,
  OPENPGP_INVALID: 400,
  FINGERPRINT_MISMATCH: 500,
  AUDIT_LOG_TAMPERED: 500,
  KT_VERIFICATION_FAILED: 500,
  KT_ALARM: 500,
  SAFETY_NUMBER_MISMATCH: 500,
  PASSPHRASE_REQUIRED: 500,
  PASSPHRASE_WRONG: 500,
  DEVICE_WIPED: 500,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return status[code];
}

export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Fastify error handler: our errors keep their code; fastify's own (body too large, bad JSON) get one. */
export function handleHttpError(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  let e: SealpostError;
  if (err instanceof SealpostError) e = err;
  else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new SealpostError('PAYLOAD_TOO_LARGE', 'request body too large');
  else if ((err as FastifyError).statusCode === 400 || (err as FastifyError).statusCode === 415) e = new SealpostError('INVALID_INPUT', err.message);
  else {
    req.log.error({ err }, 'unhandled error');
    e = new SealpostError('INTERNAL', 'internal server error');
  }
  const retryAfterMs = e.details?.retryAfterMs;
  if (typeof retryAfterMs === 'number') void reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  void reply.status(httpStatusOf(e.code)).send(errorBody(e.code, e.message));
}
