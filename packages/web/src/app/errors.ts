// What each SDK error code means to a person using the app. The compiler checks that every code has a message; the
// technical detail (err.message) is shown under it, smaller, for whoever helps them.
import { SealpostError, type ErrorCode } from '@sealpost/protocol';

const messages: Record<ErrorCode, string> = {
  INVALID_INPUT: 'Something in what you entered is not valid.',
  MALFORMED_FRAME: 'The server sent something this app cannot read. Try again; if it persists, tell your administrator.',
  FRAME_TOO_LARGE: 'A message was too large to pass through the connection.',
  PAYLOAD_TOO_LARGE: 'That is too large to send. Shorten the text, or send it as a file.',
  UNKNOWN_FRAME_TYPE: 'The server and this app do not speak the same version. Reload the page.',
  UNAUTHENTICATED: 'Your session ended. Reload the page to sign in again.',
  AUTH_FAILED: 'The server did not accept this device’s sign-in.',
  FORBIDDEN: 'You are not allowed to do that.',
  ADMIN_TOKEN_INVALID: 'That needs an administrator.',
  ACTIVATION_CODE_INVALID: 'That activation code is not right. Check it with your administrator, or ask for a new one.',
  ACTIVATION_CODE_EXPIRED: 'That activation code has expired. Ask your administrator for a new one.',
  ACTIVATION_ATTEMPTS_EXCEEDED: 'Too many wrong codes: this activation code no longer works. Ask your administrator for a new one.',
  USER_EXISTS: 'This account is already set up on a device. Link this browser from that device instead.',
  HOLD_EXISTS: 'This person is already on legal hold.',
  HOLD_NOT_FOUND: 'This person is not on legal hold.',
  ARCHIVE_NOT_READY: 'No archive service is enrolled yet, so a legal hold would record nothing. Set up the archive first.',
  ARCHIVE_NOT_ACKNOWLEDGED: "This conversation is recorded by your organisation's archive under a legal hold. Confirm that you have seen this, then send again.",
  ARCHIVE_REFUSED: 'The archive was added to a conversation without a published legal hold on one of its members, so it was refused. Tell your admin.',
  ARCHIVE_LOG_BROKEN: "The archive's log does not hold together: an entry was changed or removed. Nothing was exported.",
  SSO_NOT_CONFIGURED: 'Signing in with your organisation account is not set up on this server.',
  SSO_FAILED: 'Your organisation account could not confirm this sign-in. Try again.',
  SSO_EXPIRED: 'The sign-in took too long. Start again.',
  SSO_HAS_DEVICE: 'This account already has a device. Link this one from it instead.',
  USER_NOT_FOUND: 'There is nobody with that name in your organisation.',
  USER_DISABLED: 'That account is disabled.',
  DEVICE_EXISTS: 'This device is already registered.',
  DEVICE_NOT_FOUND: 'That device is not known.',
  DEVICE_LIST_INVALID: 'A contact’s list of devices did not check out. Sealpost refused to send to it.',
  ACCOUNT_KEY_CHANGED: 'A contact’s security key changed. Compare safety numbers before you trust it.',
  KEY_CHANGE_PENDING: 'A contact’s security key changed recently. Messages to them wait until the change has stood long enough, or until you compare safety numbers.',
  DEVICE_NOT_TRUSTED: 'A device in this conversation is not trusted.',
  NO_KEY_PACKAGE: 'That person has no device that can receive messages yet.',
  SUITE_UNSUPPORTED: "One of the devices here cannot use this conversation's encryption (post-quantum or classic). It needs an update; nothing was sent to it.",
  TOO_MANY_KEY_PACKAGES: 'The server holds enough keys for this device.',
  TOO_MANY_DEVICES: 'This account has as many devices as your organisation allows. Remove one first.',
  DEVICE_REVOKED: 'This device was removed from your account.',
  LINK_CODE_INVALID: 'That link code is not right. Check it on the new device.',
  LINK_EXPIRED: 'That link request has expired. Start linking again on the new device.',
  FINGERPRINT_MISMATCH: 'The digits do not match the new device. Do not approve it.',
  POLICY_INVALID: 'That setting is not allowed by your organisation.',
  AUDIT_LOG_TAMPERED: 'The server’s audit log does not check out.',
  KT_VERIFICATION_FAILED: 'The key directory’s proof did not check out. Sealpost refused to use that key.',
  KT_ALARM: 'Key-transparency alarm: the directory shows something about your account this device did not do.',
  SAFETY_NUMBER_MISMATCH: 'The safety numbers differ. Do not trust this contact’s key until you find out why.',
  ADMIN_TOKEN_EXISTS: 'That administrator token exists already.',
  CONVERSATION_EXISTS: 'That conversation exists already.',
  CONVERSATION_NOT_FOUND: 'That conversation is not on this device.',
  NOT_A_MEMBER: 'You are not in that conversation any more.',
  EPOCH_CONFLICT: 'Someone changed the conversation at the same moment. Try again.',
  DUPLICATE_MESSAGE: 'That message was sent already.',
  TOO_MANY_CONNECTIONS: 'Too many connections are open. Close other tabs or devices and try again.',
  RATE_LIMITED: 'Too many requests just now. Wait a moment and try again.',
  BLOB_NOT_FOUND: 'That file is no longer on the server.',
  BLOB_TOO_LARGE: 'That file is larger than your organisation allows.',
  QUOTA_EXCEEDED: 'Your storage on the server is full. Delete files you no longer need.',
  STORAGE_FULL: 'The server is out of space. Tell your administrator.',
  UPLOAD_OFFSET_MISMATCH: 'The upload got out of step with the server. Try again.',
  UPLOAD_INCOMPLETE: 'The file did not finish uploading. Try again.',
  FILE_CORRUPT: 'That file was altered or damaged: it was not saved.',
  FILE_TRUNCATED: 'That file is incomplete on the server: it was not saved.',
  FILE_NOT_FOUND: 'That file cannot be read.',
  ATTACHMENT_NOT_FOUND: 'That attachment is not on this device.',
  MAIL_NOT_FOUND: 'That mail is not on this device.',
  TOO_MANY_RECIPIENTS: 'Too many recipients for one mail.',
  OUTSIDE_MAIL_DISABLED: 'Your organisation sends no mail outside it.',
  OUTSIDE_MAIL_NEEDS_KEY: 'No OpenPGP key is known for an outside recipient, so this copy would leave readable. Sending outside mail from the web app is not available yet: use the sealpost CLI.',
  MAIL_KEYS_MISSING: 'This device holds no mail keys for outside mail yet.',
  OPENPGP_INVALID: 'That OpenPGP key or message could not be read.',
  NOT_ENROLLED: 'This browser is not set up yet.',
  PROFILE_EXISTS: 'Sealpost is already set up in this browser.',
  PROFILE_LOCKED: 'Sealpost is open in another tab. Use it there, or close that tab and reload this one.',
  PASSPHRASE_REQUIRED: 'Enter your passphrase to unlock Sealpost on this device.',
  PASSPHRASE_WRONG: 'That passphrase is not right.',
  DEVICE_WIPED: 'Your organisation wiped this device: everything Sealpost kept in this browser is erased.',
  MLS_ERROR: 'A message could not be encrypted or decrypted.',
  DECRYPT_FAILED: 'A message could not be decrypted.',
  SERVER_UNREACHABLE: 'The server cannot be reached. Check your connection; Sealpost keeps trying.',
  PROTOCOL_ERROR: 'The server answered something unexpected. Try again.',
  CONFIG_INVALID: 'The server is misconfigured. Tell your administrator.',
  INSECURE_LISTEN: 'The server is misconfigured. Tell your administrator.',
  LISTEN_FAILED: 'The server could not start.',
  STORE_TAMPERED: 'This device’s stored data was altered outside Sealpost. Do not trust it; tell your administrator.',
  CANCELLED: 'Stopped, as you asked. Nothing was changed.',
  WEB_APP_MISMATCH: 'The web app this server sends is not the published build of its version.',
  INTERNAL: 'Something went wrong. Try again; if it persists, tell your administrator.',
};

export interface ShownError {
  code: string;
  text: string;
  detail: string;
}

export function explain(err: unknown): ShownError {
  if (err instanceof SealpostError) return { code: err.code, text: messages[err.code], detail: err.message };
  const e = err as Error;
  return { code: 'INTERNAL', text: 'Something went wrong in the app.', detail: e?.message ?? String(err) };
}

export function messageFor(code: ErrorCode): string {
  return messages[code];
}
