// Sign-in with the organisation's identity provider for enrollment (OIDC, authorization code + PKCE; openid-client).
// The provider proves who the person is; it never sees or holds a key. The flow: the CLI asks `start` with its
// loopback redirect (RFC 8252), the person signs in at the provider, the provider redirects to the CLI, the CLI hands
// the redirect to `finish`; the server (the registered, confidential client) exchanges the code, checks the ID token
// (issuer, audience, nonce, expiry — openid-client), maps the verified email to a user of this server, and issues a
// fresh activation code for the ordinary enrollment — only to an active user with no device yet: SSO never adds a
// device to an account that has one (that stays approval from an existing device), and a person with no device left
// goes through the audited reset first. The login's state, nonce and PKCE verifier travel sealed under the server
// secret inside `state`, so any node can finish what another started, and nothing is stored.
import * as oidc from 'openid-client';
import { SealpostError, parseUserId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { getPolicy } from '../admin/policy-store.js';
import { audit } from '../admin/audit.js';
import { openPrivateKey, sealPrivateKey, activationCodeMac } from '../server-secret.js';
import { newActivationCode } from './tokens.js';

/** How long a person has to sign in at the provider. */
export const SSO_LOGIN_TTL_MS = 10 * 60_000;
const STATE_NAME = 'sso-login';
const NO_KEY = new Uint8Array(0);

interface Login {
  v: 1;
  nonce: string;
  verifier: string;
  redirectUri: string;
  exp: number;
}

/**
 * Where the provider may send the person back: a native app's loopback redirect (RFC 8252 §7.3: http, 127.0.0.1 or
 * [::1], a port, a path — the CLI), or the web app itself: exactly `ORIGIN/` of the page that asked (its Origin
 * header), over https (http only on this machine). The provider checks its own registration of it too.
 */
export function checkRedirectUri(uri: string, origin: string | undefined): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new SealpostError('INVALID_INPUT', 'redirectUri: not a URL');
  }
  const clean = uri.length <= 300 && !u.search && !u.hash && !u.username && !u.password;
  const loopback = clean && u.protocol === 'http:' && ['127.0.0.1', '[::1]'].includes(u.hostname) && u.port !== '';
  const local = (h: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(h);
  const webApp = clean && origin !== undefined && uri === `${origin}/` && (u.protocol === 'https:' || local(u.hostname));
  if (!loopback && !webApp) {
    throw new SealpostError('INVALID_INPUT', "redirectUri: a loopback address with a port (http://127.0.0.1:PORT/path), or this web app's own address");
  }
  return uri;
}

/** The provider's configuration, discovered once per issuer and client (its issuer must be the one the policy names). */
const configs = new Map<string, Promise<oidc.Configuration>>();
async function providerConfig(ctx: ServerContext): Promise<oidc.Configuration> {
  const policy = await getPolicy(ctx);
  const secret = ctx.ssoClientSecret;
  if (!policy.ssoIssuer || !policy.ssoClientId || !secret) {
    throw new SealpostError(
      'SSO_NOT_CONFIGURED',
      'sign-in with the identity provider is not set up on this server (admin policy set sso-issuer URL, sso-client-id ID, and the server started with --sso-client-secret-file)',
    );
  }
  const key = `${policy.ssoIssuer}\0${policy.ssoClientId}`;
  let config = configs.get(key);
  if (!config) {
    const issuer = new URL(policy.ssoIssuer);
    // Plain http only for a provider on this machine (a test, a local Keycloak); anywhere else https.
    const local = issuer.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
    config = oidc.discovery(issuer, policy.ssoClientId, secret, undefined, local ? { execute: [oidc.allowInsecureRequests], timeout: 10 } : { timeout: 10 });
    configs.set(key, config);
    config.catch(() => configs.delete(key));
  }
  try {
    return await config;
  } catch (err) {
    throw new SealpostError('SSO_FAILED', `the identity provider at ${policy.ssoIssuer} cannot be used: ${(err as Error).message.slice(0, 200)}`);
  }
}

/** Where the person signs in: the provider's authorization URL for this login. */
export async function startSso(ctx: ServerContext, redirectUri: string, origin: string | undefined): Promise<{ authorizationUrl: string; expiresAt: number }> {
  const config = await providerConfig(ctx);
  const verifier = oidc.randomPKCECodeVerifier();
  const login: Login = { v: 1, nonce: oidc.randomNonce(), verifier, redirectUri: checkRedirectUri(redirectUri, origin), exp: ctx.clock.now() + SSO_LOGIN_TTL_MS };
  const state = sealPrivateKey(ctx.secret, STATE_NAME, NO_KEY, new TextEncoder().encode(JSON.stringify(login)));
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: login.redirectUri,
    scope: 'openid email profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce: login.nonce,
  });
  return { authorizationUrl: url.href, expiresAt: login.exp };
}

/**
 * The redirect the person's browser made to the CLI: the code exchanged, the ID token checked, the person mapped to a
 * user of this server who may enroll a first device; a fresh activation code for them.
 */
export async function finishSso(ctx: ServerContext, callbackUrl: string): Promise<{ user: UserId; activationCode: string; expiresAt: number }> {
  let current: URL;
  try {
    current = new URL(callbackUrl);
  } catch {
    throw new SealpostError('INVALID_INPUT', 'callbackUrl: not a URL');
  }
  if (callbackUrl.length > 8192) throw new SealpostError('INVALID_INPUT', 'callbackUrl: too long');
  const state = current.searchParams.get('state');
  if (!state) throw new SealpostError('SSO_FAILED', `the sign-in came back without a state${current.searchParams.get('error') ? ` (the provider said: ${current.searchParams.get('error')!.slice(0, 80)})` : ''}`);
  let login: Login;
  try {
    login = JSON.parse(new TextDecoder().decode(openPrivateKey(ctx.secret, STATE_NAME, NO_KEY, state))) as Login;
  } catch {
    throw new SealpostError('SSO_FAILED', 'this sign-in was not started by this server (its state does not open)');
  }
  if (login.exp < ctx.clock.now()) throw new SealpostError('SSO_EXPIRED', `the sign-in took longer than ${SSO_LOGIN_TTL_MS / 60_000} minutes: start again`);
  if (!callbackUrl.startsWith(`${login.redirectUri}?`)) throw new SealpostError('SSO_FAILED', 'the sign-in came back to another address than it was started for');
  const config = await providerConfig(ctx);
  let claims: oidc.IDToken | undefined;
  let profile: { email?: unknown; email_verified?: unknown } = {};
  try {
    const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: login.verifier, expectedState: state, expectedNonce: login.nonce, idTokenExpected: true });
    claims = tokens.claims();
    profile = (claims ?? {}) as typeof profile;
    // Some providers put the email only in the UserInfo answer (for the ID token's own subject).
    if (claims && typeof claims.email !== 'string') profile = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  } catch (err) {
    const e = err as { error?: string; message: string };
    throw new SealpostError('SSO_FAILED', `the identity provider did not confirm this sign-in (${(e.error ?? e.message).slice(0, 200)})`);
  }
  if (!claims) throw new SealpostError('SSO_FAILED', 'the identity provider returned no ID token');
  const email = typeof profile.email === 'string' ? profile.email.toLowerCase() : undefined;
  if (!email || profile.email_verified === false) throw new SealpostError('SSO_FAILED', 'the identity provider did not give a verified email address for this person');
  if (email.slice(email.lastIndexOf('@') + 1) !== ctx.domain) throw new SealpostError('USER_NOT_FOUND', `${email} is not an address of this server's domain ${ctx.domain}`);
  const user = parseUserId(email);
  const rec = await ctx.store.getUser(user);
  if (!rec) throw new SealpostError('USER_NOT_FOUND', `${user} is not a user of this server (ask your admin, or your identity provider's provisioning)`);
  if (rec.status !== 'active') throw new SealpostError('USER_DISABLED', `${user} is disabled`);
  const code = newActivationCode();
  const expiresAt = ctx.clock.now() + (await getPolicy(ctx)).activationCodeTtlMs;
  const result = await ctx.store.reissueActivation(user, { codeHash: activationCodeMac(ctx.secret, code), expiresAt });
  if (result === 'missing') throw new SealpostError('USER_NOT_FOUND', `no user ${user}`);
  if (result === 'enrolled') {
    throw new SealpostError('SSO_HAS_DEVICE', `${user} already has a device: signing in with the identity provider never adds one — link this device from it (sealpost devices link), or ask your admin for a reset if every device is lost`);
  }
  await audit(ctx, 'sso', 'sso.enroll', user, { sub: String(claims.sub).slice(0, 200), issuer: String(claims.iss).slice(0, 200) });
  return { user, activationCode: code, expiresAt };
}
