// The app's state as signals, and the actions that change it: opening the browser's profile, enrolling or linking
// this browser, the live connection, and what the views read (always from the local, encrypted store).
import { signal } from '@preact/signals';
import { SealpostError } from '@sealpost/protocol';
import { HttpApi, type LinkCode, type Received } from '@sealpost/client/browser';
import { SealpostClient } from '../sdk/platform.browser.js';
import { IdbProfileStore } from '../sdk/profile-store.idb.js';
import { SealedRecords } from '../sdk/sealed-records.js';
import { explain, messageFor, type ShownError } from './errors.js';

/** One profile per browser (per origin): the server this app came from is the server it talks to. */
export const PROFILE = 'default';
export const server = (): string => location.origin;

export type Phase = 'loading' | 'welcome' | 'unlock' | 'locked' | 'ready' | 'wiped' | 'revoked';
export type Route =
  | { view: 'chats'; conversation?: string }
  | { view: 'mail'; folder: 'inbox' | 'sent'; mail?: string; compose?: { to?: string; cc?: string; subject?: string; text?: string; replyTo?: string; all?: boolean; forward?: string } }
  | { view: 'devices' }
  | { view: 'verify'; user?: string }
  | { view: 'search'; query?: string };

export const phase = signal<Phase>('loading');
export const client = signal<SealpostClient | null>(null);
export const connection = signal<'connecting' | 'online' | 'reconnecting'>('connecting');
/** Bumped whenever local state may have changed: views re-read the store. */
export const revision = signal(0);
export const route = signal<Route>({ view: 'chats' });
export const alarm = signal<{ at: string; problems: string[] } | null>(null);
export const problem = signal<ShownError | null>(null);
export const storageNote = signal<string | null>(null);
/** The organisation's statement that the server was restored from a backup, as this device accepted it. */
export const restartNote = signal<string | null>(null);
export const linking = signal<LinkCode | null>(null);

let live: AbortController | undefined;

export function refresh(): void {
  revision.value++;
}

export function show(err: unknown): void {
  problem.value = explain(err);
}

/** A message kept in the outbox while a recipient's key change is contested: said, with why and until when. */
export function held(reason: string): void {
  problem.value = { code: 'KEY_CHANGE_PENDING', text: `Not sent yet. ${messageFor('KEY_CHANGE_PENDING')}`, detail: reason };
}

/** What the app does when it loads: open the profile this browser has, or offer to set one up. */
export async function boot(): Promise<void> {
  try {
    if (!(await IdbProfileStore.exists(PROFILE))) {
      phase.value = 'welcome';
      return;
    }
    await open(undefined);
  } catch (err) {
    if (err instanceof SealpostError && err.code === 'PASSPHRASE_REQUIRED') phase.value = 'unlock';
    else if (err instanceof SealpostError && err.code === 'PROFILE_LOCKED') phase.value = 'locked';
    else if (err instanceof SealpostError && err.code === 'NOT_ENROLLED') {
      // A setup that never finished: start again.
      await forget();
      phase.value = 'welcome';
    } else {
      show(err);
      phase.value = 'welcome';
    }
  }
}

/** The SDK's warnings: a key-transparency alarm raised during a periodic check becomes the banner. */
const options = (passphrase?: string) => ({
  ...(passphrase ? { passphrase } : {}),
  warn: (m: string) => {
    if (m.startsWith('KEY TRANSPARENCY ALARM')) alarm.value = { at: new Date().toISOString(), problems: [...(alarm.value?.problems ?? []), m.replace(/^KEY TRANSPARENCY ALARM: /, '')] };
    // A restore from a backup, declared by the organisation: said, not hidden (keys known before must not change).
    else if (m.startsWith('the server was restored from a backup')) restartNote.value = m;
  },
});

export async function open(passphrase: string | undefined): Promise<void> {
  const c = await SealpostClient.open(PROFILE, options(passphrase));
  await start(c);
}

export async function enroll(params: { user: string; code: string; deviceName: string; passphrase?: string }): Promise<void> {
  const c = await SealpostClient.enroll(
    { server: server(), user: params.user, code: params.code, profile: PROFILE, deviceName: params.deviceName },
    options(params.passphrase),
  );
  await start(c);
}

/** Sign-in with the organisation's account (server auth/sso.ts): the provider's page, which comes back here. */
export async function startSso(): Promise<void> {
  const res = await new HttpApi(server()).request<{ authorizationUrl: string }>('POST', '/v1/sso/start', { redirectUri: `${server()}/` }, 'none');
  location.assign(res.authorizationUrl);
}

/**
 * Back from the provider (`/?code=…&state=…`): the server checks the sign-in and answers with an activation code for
 * the person; the address bar is cleaned first, so a reload does not send the code again.
 */
export async function finishSso(): Promise<{ user: string; activationCode: string } | undefined> {
  const q = new URLSearchParams(location.search);
  if (!q.has('state') || !(q.has('code') || q.has('error'))) return undefined;
  const callbackUrl = location.href;
  history.replaceState(null, '', '/');
  return new HttpApi(server()).request<{ user: string; activationCode: string }>('POST', '/v1/sso/finish', { callbackUrl }, 'none');
}

/** Whether this server offers sign-in with the organisation's account (its policy names a provider). */
export async function ssoOffered(): Promise<boolean> {
  const res = await fetch(`${server()}/v1/info`);
  const info = (await res.json()) as { policy?: { sso?: boolean } };
  return info.policy?.sso === true;
}

export async function link(params: { user: string; deviceName: string; passphrase?: string }, signal: AbortSignal): Promise<void> {
  try {
    const c = await SealpostClient.link(
      { server: server(), user: params.user, profile: PROFILE, deviceName: params.deviceName },
      { ...options(params.passphrase), signal, onCode: (code) => (linking.value = code) },
    );
    linking.value = null;
    await start(c);
    // The approving device adds this one to its conversations: wait for them, briefly.
    await c.awaitLinkedConversations(20_000).catch(() => undefined);
    refresh();
  } finally {
    linking.value = null;
  }
}

async function start(c: SealpostClient): Promise<void> {
  client.value = c;
  phase.value = 'ready';
  await askPersistentStorage();
  live = new AbortController();
  connection.value = 'connecting';
  void c
    .watch(() => refresh(), live.signal, {
      onStatus: (s) => (connection.value = s),
      onChange: () => refresh(),
    })
    .catch((err: unknown) => ended(err));
  void checkSelf();
  refresh();
}

/** The device was revoked or wiped while open: say so; a wipe has erased the profile already. */
function ended(err: unknown): void {
  client.value = null;
  if (err instanceof SealpostError && err.code === 'DEVICE_WIPED') phase.value = 'wiped';
  else if (err instanceof SealpostError && err.code === 'DEVICE_REVOKED') {
    phase.value = 'revoked';
    void forget();
  } else show(err);
}

/** Check this account's own entry in the key-transparency log; an alarm shows until the user acknowledges it. */
export async function checkSelf(): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    const check = await c.monitorSelf();
    const a = check.alarm ?? (check.ok ? null : { at: new Date().toISOString(), problems: check.problems });
    if (a && c.preference('alarm-acknowledged') !== a.at) alarm.value = a;
  } catch (err) {
    if (err instanceof SealpostError && err.code === 'KT_ALARM') {
      alarm.value = { at: new Date().toISOString(), problems: [err.message] };
    }
  }
}

export function acknowledgeAlarm(): void {
  const c = client.value;
  if (c && alarm.value) c.setPreference('alarm-acknowledged', alarm.value.at);
  alarm.value = null;
}

async function askPersistentStorage(): Promise<void> {
  try {
    const persisted = (await navigator.storage?.persisted?.()) || (await navigator.storage?.persist?.());
    storageNote.value = persisted
      ? null
      : 'This browser may delete Sealpost’s data when it runs short of space. Install the app or allow storage for this site to keep it; your messages are also on your other devices only if you linked them.';
  } catch {
    storageNote.value = null;
  }
}

/** Remove this browser's profile (after a revocation, or a setup that never finished). */
export async function forget(): Promise<void> {
  live?.abort();
  const c = client.value;
  client.value = null;
  if (c) await c.close().catch(() => {});
  await SealedRecords.erase(PROFILE);
}

/** Seen in the conversation list: incoming messages newer than what the user last read there. */
export function unreadIn(c: SealpostClient, conversation: string): number {
  const read = Number(c.preference(`read:${conversation}`) ?? 0);
  return c.messages(conversation as never).filter((m) => m.from !== c.user && Date.parse(m.sentAt) > read).length;
}

export function markConversationRead(c: SealpostClient, conversation: string): void {
  const last = c.messages(conversation as never).at(-1);
  const at = last ? Date.parse(last.sentAt) : 0;
  if (Number(c.preference(`read:${conversation}`) ?? 0) < at) c.setPreference(`read:${conversation}`, String(at));
}

/** A person's name as shown: the part before @ when they are in this organisation. */
export function shortName(c: SealpostClient | null, user: string): string {
  const domain = c ? c.user.slice(c.user.indexOf('@')) : '';
  return domain && user.endsWith(domain) ? user.slice(0, -domain.length) : user;
}

export function isMail(m: Received): boolean {
  return m.type === 'mail';
}
