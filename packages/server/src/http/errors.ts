// The only place that turns an error code into an HTTP status and the `{ error: { code, message } }` body.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SealpostError, type ErrorCode } from '@sealpost/protocol';

const status: Partial<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  MALFORMED_FRAME: 400,
  DEVICE_LIST_INVALID: 400,
  MLS_ERROR: 400,
  UNAUTHENTICATED: 401,
  AUTH_FAILED: 401,
  ADMIN_TOKEN_INVALID: 401,
  ACTIVATION_CODE_INVALID: 403,
  ACTIVATION_CODE_EXPIRED: 403,
  ACTIVATION_ATTEMPTS_EXCEEDED: 403,
  FORBIDDEN: 403,
  USER_DISABLED: 403,
  NOT_A_MEMBER: 403,
  USER_NOT_FOUND: 404,
  DEVICE_NOT_FOUND: 404,
  CONVERSATION_NOT_FOUND: 404,
  NO_KEY_PACKAGE: 409,
  USER_EXISTS: 409,
  DEVICE_EXISTS: 409,
  CONVERSATION_EXISTS: 409,
  EPOCH_CONFLICT: 409,
  FRAME_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_KEY_PACKAGES: 429,
  TOO_MANY_CONNECTIONS: 429,
  RATE_LIMITED: 429,
};

export function httpStatusOf(code: ErrorCode): number {
  return status[code] ?? 500;
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
  void reply.status(httpStatusOf(e.code)).send(errorBody(e.code, e.message));
}
