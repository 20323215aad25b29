// Safety numbers: the number shared with a contact as digits and as a QR code, whether it is verified, a warning
// when the contact's key changed since, and marking it verified after comparing.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { VerifyResult } from '@sealpost/client/browser';
import { client, refresh, revision, route, shortName, show, type Route } from '../state.js';
import { Action, Qr } from './common.js';

export function Verify(props: { route: Extract<Route, { view: 'verify' }> }): JSX.Element {
  const c = client.value!;
  void revision.value;
  const contacts = [...new Set(c.conversations().flatMap((x) => x.members))].filter((u) => u !== c.user).sort();
  const [other, setOther] = useState(props.route.user ?? '');
  return (
    <div class="single">
      <h2>Safety numbers</h2>
      <p>Compare the number with your contact in person or on a call you trust. If it matches, nobody — not even the server’s operator — is in between.</p>
      <form class="inline" aria-label="Choose a contact" onSubmit={(e) => e.preventDefault()}>
        <label>Contact
          <input name="contact" list="contacts" value={other} onInput={(e) => setOther(e.currentTarget.value)} />
        </label>
        <datalist id="contacts">{contacts.map((u) => <option value={shortName(c, u)} />)}</datalist>
        <button type="submit" onClick={() => (route.value = { view: 'verify', user: other.trim() })}>Show</button>
      </form>
      <ul class="contacts">
        {contacts.map((u) => <li><button type="button" onClick={() => { setOther(shortName(c, u)); route.value = { view: 'verify', user: u }; }}>{shortName(c, u)}</button></li>)}
      </ul>
      {props.route.user && <Number key={props.route.user} user={props.route.user} />}
    </div>
  );
}

function Number(props: { user: string }): JSX.Element {
  const c = client.value!;
  const [r, setR] = useState<VerifyResult | null>(null);
  const load = () => c.verifyUser(props.user).then(setR, show);
  useEffect(() => void load(), [props.user]);
  if (!r) return <p aria-busy="true">Checking the key directory…</p>;
  const verified = r.confirmed && !r.changedSinceConfirmed;
  const groups = r.safetyNumber.replace(/\s+/g, '').match(/.{1,5}/g) ?? [];
  return (
    <section class="card" aria-label={`Safety number with ${shortName(c, r.user)}`} data-testid="safety">
      <h3>
        {shortName(c, r.user)}{' '}
        {verified ? <span class="verified" data-testid="verified">✔ Verified</span> : <span class="unverified">Not verified</span>}
      </h3>
      {r.changedSinceConfirmed && (
        <p class="warn" role="alert" data-testid="key-changed">
          {shortName(c, r.user)}’s security key changed since you verified it. Compare the new number before you trust it.
        </p>
      )}
      {r.keyChange?.status === 'pending' && (
        <p class="warn" role="alert">A new key for {shortName(c, r.user)} is in its waiting period until {new Date(r.keyChange.until ?? '').toLocaleString()}. Comparing the number now accepts it at once.</p>
      )}
      {r.keyChange?.status === 'refused' && <p class="warn" role="alert">A new key for {shortName(c, r.user)} was refused by their own devices: {r.keyChange.reason}</p>}
      <p class="digits safety-number" data-testid="safety-number" aria-label={`Safety number ${r.safetyNumber.split('').join(' ')}`}>
        {groups.map((g) => <span>{g}</span>)}
      </p>
      <Qr text={r.qr} label={`QR code of the safety number with ${shortName(c, r.user)}`} />
      <p class="muted">Key directory: {r.kt.verified ? `checked (version ${r.kt.version})` : 'not checked'} · {r.devices} device{r.devices === 1 ? '' : 's'}</p>
      {!verified && (
        <Action kind="primary" label="The numbers match — mark as verified" busyLabel="Saving…" testid="mark-verified" onRun={async () => {
          setR(await c.verifyUser(props.user, { confirm: r.safetyNumber }));
          refresh();
        }} />
      )}
    </section>
  );
}
