// The device's session with the server: sign-in, the WebSocket, refusals (signed or not), and a wipe.
import {
  type AccountRecord,
  SealpostError,
  challengeMessage,
  fromBase64Url,
  signLabelled,
  signWipeReceipt,
  verifyOrgCommand,
  bytesEqual,
  toBase64Url,
  type QueueItem,
} from '@sealpost/protocol';
import { HttpApi } from '../http-api.js';
import { ServerSocket } from '../socket.js';
import { ClientCore, ClientPart } from './client-core.js';


/**
 * Signing in and the connection: a session token from a challenge signed with the device key, the WebSocket, and
 * what a refusal means — an organisation-signed reason (revoked, disabled, wiped: the wipe is carried out) or, without
 * one, a key-transparency alarm with the public monitor's view of this account.
 */
export class Session extends ClientPart {
  constructor(core: ClientCore) {
    super(core);
    core.signInAgain = () => this.sessionToken();
  }

  socketPromise: Promise<ServerSocket> | undefined;

  async sessionToken(): Promise<string> {
    const token = this.store.getMetaText('session_token');
    const expires = Number(this.store.getMetaText('session_expires') ?? 0);
    if (token && expires - Date.now() > 60_000) return token;
    const anon = new HttpApi(this.server);
    const { challenge, domain } = await anon.request<{ challenge: string; domain: string }>('POST', '/v1/auth/challenge', { device: this.device }, 'none');
    const challengeBytes = fromBase64Url(challenge);
    if (!challengeBytes || challengeBytes.length !== 32) throw new SealpostError('PROTOCOL_ERROR', 'server sent a malformed challenge');
    const signature = await signLabelled(this.engine.cs.signature, this.deviceKeys.privateKey, 'auth-challenge', challengeMessage(domain, this.device, challengeBytes));
    let session: { token: string; expiresAt: string } | { wipe: { command: string; signature: string } } | { refused: { kind: string; command: string; signature: string } };
    try {
      session = await anon.request('POST', '/v1/auth/session', { device: this.device, challenge, signature: toBase64Url(signature) }, 'none');
    } catch (err) {
      // The server no longer knows this device's key (AUTH_FAILED): with no organisation-signed reason, that is
      // what an operator who removed the device's row would do to silence it.
      if (err instanceof SealpostError && err.code === 'AUTH_FAILED') {
        // Unless the organisation says the server was restored from a backup made before this device was enrolled.
        const restart = await this.kt.restartAfter(Number(this.store.getMetaText('enrolled_at') ?? 0));
        if (restart) {
          throw new SealpostError(
            'NOT_ENROLLED',
            `the server was restored from a backup made before this device was enrolled ("${restart.reason.slice(0, 200)}", signed by your organisation, ` +
              `${new Date(restart.at).toISOString()}): it no longer knows this device. Ask your admin for a new activation code (\`sealpost admin user reset USER\` ` +
              'if you have no other device, or link this one again from one you have) and enroll again',
          );
        }
        throw await this.lockedOut(err.message);
      }
      throw err;
    }
    if ('wipe' in session) return this.carryOutWipe(session.wipe);
    if ('refused' in session) throw await this.refusedWithReason(session.refused);
    this.store.setMeta('session_token', session.token);
    this.store.setMeta('session_expires', String(Date.parse(session.expiresAt)));
    return session.token;
  }

  /** A refusal the server gives a reason for: believed only with the organisation's signature on it. */
  async refusedWithReason(r: { kind: string; command: string; signature: string }): Promise<SealpostError> {
    const org = this.store.getMeta('org_key');
    const body = fromBase64Url(r.command);
    const sig = fromBase64Url(r.signature);
    const kind = r.kind === 'disable-user' ? 'disable-user' : 'remove-device';
    const v = org && body && sig ? await verifyOrgCommand(this.engine.cs.signature, org, { body, signature: sig }, { kind, device: this.device }) : undefined;
    if (v?.kind !== 'ok') return this.lockedOut(`the server refused this device with a reason (${r.kind}) your organisation did not sign`);
    return kind === 'disable-user'
      ? new SealpostError('USER_DISABLED', 'your organisation disabled this account (signed by the organisation key)')
      : new SealpostError('DEVICE_REVOKED', 'this device was revoked (signed by the organisation key); enroll or link it again');
  }

  /**
   * The server refuses this device without an organisation-signed reason: an alarm, not a plain error. What the
   * key-transparency log shows for this account is checked without a session (the monitor is public) and told.
   */
  async lockedOut(why: string): Promise<SealpostError> {
    const problems = [`the server refuses this device without a signed reason (${why})`];
    try {
      const accountKey = this.store.getMeta('account_public');
      const seen = Number(this.store.getMetaText('kt_self_version') ?? 0);
      const monitored = await this.kt.monitor(this.user, Math.max(1, seen), 'none');
      for (const { version, record } of monitored.versions) {
        if (version <= seen || !accountKey || bytesEqual(record.accountKey, accountKey)) continue;
        problems.push(`version ${version} of your account in the log ${record.accountKey.length === 0 ? 'retires it' : 'carries an account key that is not yours'}: none of your devices made it`);
      }
      await this.objectToForeignVersions(monitored.versions.filter((v) => v.version >= seen));
    } catch (err) {
      problems.push(`the key-transparency log could not be checked either (${(err as Error).message})`);
    }
    this.core.raiseAlarm(problems);
    return new SealpostError('KT_ALARM', problems.join('; '));
  }

  /**
   * Versions of this account's label that carry another account key or retire it, after a version with this
   * device's key: this account objects, signed with its account key, so contacts who know that key refuse the
   * change. Once per first foreign version; a failure to post is reported and tried again next time.
   */
  async objectToForeignVersions(versions: { version: number; record: AccountRecord }[]): Promise<void> {
    const accountKey = this.store.getMeta('account_public');
    const accountPrivate = this.store.getMeta('account_private');
    if (!accountKey || !accountPrivate) return;
    let ours = false;
    for (const { version, record } of versions) {
      if (bytesEqual(record.accountKey, accountKey)) {
        ours = true;
        continue;
      }
      if (!ours && this.store.getMetaText('kt_self_version') === undefined) continue; // a first check: records of an earlier account
      if (this.store.getMetaText(`kt_objected:${version}`)) return;
      try {
        const took = await this.kt.object(this.user, version, accountKey, accountPrivate);
        this.store.setMeta(`kt_objected:${version}`, new Date().toISOString());
        this.warn(
          `objected, with your account key, to version ${version} of your account in the key-transparency log` +
            ` (taken by ${[took.server ? 'the server' : '', took.auditors > 0 ? `${took.auditors} auditor(s)` : ''].filter(Boolean).join(' and ')}): contacts who know your key will refuse it` +
            (took.failed.length > 0 ? `; not taken by ${took.failed.join(', ')}` : ''),
        );
      } catch (err) {
        this.warn(`could not publish an objection to version ${version} of your account: ${(err as Error).message}`);
      }
      return;
    }
  }

  async socket(): Promise<ServerSocket> {
    if (this.socketPromise) {
      const s = await this.socketPromise.catch(() => undefined);
      if (s?.isOpen) return s;
    }
    const connect = async () => {
      const factory = this.options.webSocket ?? this.core.platform.webSocket;
      try {
        return await ServerSocket.connect(factory, this.server, await this.sessionToken());
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'UNAUTHENTICATED') {
          // The stored session was revoked or the server restarted with a new database: get a new one.
          this.store.setMeta('session_expires', '0');
          return ServerSocket.connect(factory, this.server, await this.sessionToken());
        }
        throw err;
      }
    };
    this.socketPromise = connect();
    const sock = await this.socketPromise;
    sock.onPush = (item) => this.onPush?.(item);
    return sock;
  }

  onPush: ((item: QueueItem) => void) | undefined;

  /**
   * The server says this device is to be wiped. Obey only a command signed by the organisation key pinned at
   * enrollment and naming this device; then erase keys, group state and messages, and confirm.
   */
  async carryOutWipe(wipe: { command: string; signature: string }): Promise<never> {
    const org = this.store.getMeta('org_key');
    const body = fromBase64Url(wipe.command);
    const signature = fromBase64Url(wipe.signature);
    const v = org && body && signature ? await verifyOrgCommand(this.engine.cs.signature, org, { body, signature }, { kind: 'wipe', device: this.device }) : undefined;
    if (v?.kind !== 'ok') {
      this.warn(`ignored a wipe command that is not signed by your organisation's key for this device (${v?.reason ?? 'malformed'})`);
      throw new SealpostError('DEVICE_REVOKED', 'this device was revoked');
    }
    const receipt = await signWipeReceipt(this.engine.cs.signature, this.deviceKeys.privateKey, body!);
    const dir = this.store.dir;
    this.core.states.clear();
    this.core.wiped = true;
    this.store.erase();
    await new HttpApi(this.server)
      .request('POST', '/v1/wipe/confirm', { device: this.device, receipt: toBase64Url(receipt) }, 'none')
      .catch((err) => this.warn(`wiped, but could not confirm to the server: ${(err as Error).message}`));
    throw new SealpostError('DEVICE_WIPED', `this device was wiped by your organisation: its keys, conversations and messages in ${dir} are erased`);
  }
}
