// Setting up this browser: enroll with the activation code from the administrator, or link it to an account that
// already has a device (a code and QR code shown here, approved there). Unlocking a passphrase-protected profile.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { enroll, finishSso, link, linking, open, show, ssoOffered, startSso } from '../state.js';
import { Action, ProblemBanner, Qr } from './common.js';

function defaultDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${browser} on ${navigator.platform || 'this computer'}`.slice(0, 64);
}

export function Welcome(): JSX.Element {
  const [mode, setMode] = useState<'enroll' | 'link'>('enroll');
  return (
    <main class="welcome">
      <h1>Sealpost</h1>
      <p>End-to-end encrypted chat, mail and files for your organisation. Your keys are made here, in this browser, and never leave it.</p>
      <ProblemBanner />
      <div class="tabs" role="tablist" aria-label="How to set up this browser">
        <button type="button" role="tab" aria-selected={mode === 'enroll'} class={mode === 'enroll' ? 'tab active' : 'tab'} onClick={() => setMode('enroll')}>I have an activation code</button>
        <button type="button" role="tab" aria-selected={mode === 'link'} class={mode === 'link' ? 'tab active' : 'tab'} onClick={() => setMode('link')}>Add this browser to my account</button>
      </div>
      {mode === 'enroll' ? <EnrollForm /> : <LinkForm />}
    </main>
  );
}

function EnrollForm(): JSX.Element {
  const [user, setUser] = useState('');
  const [code, setCode] = useState('');
  const [deviceName, setDeviceName] = useState(defaultDeviceName());
  const [passphrase, setPassphrase] = useState('');
  const [sso, setSso] = useState<'no' | 'offered' | 'signed-in'>('no');
  useEffect(() => {
    // Back from the organisation's sign-in page: the code for the person who signed in fills the form.
    finishSso().then(
      (got) => {
        if (got) {
          setUser(got.user);
          setCode(got.activationCode);
          setSso('signed-in');
        } else void ssoOffered().then((yes) => yes && setSso('offered'), () => undefined);
      },
      (err: unknown) => show(err),
    );
  }, []);
  return (
    <form class="card" aria-label="Enroll" onSubmit={(e) => e.preventDefault()}>
      {sso === 'offered' && (
        <p>
          <Action kind="plain" label="Sign in with your organisation account" busyLabel="Opening the sign-in page…" testid="sso" onRun={() => startSso()} />
          <span class="muted"> — or enter the activation code from your administrator.</span>
        </p>
      )}
      {sso === 'signed-in' && <p data-testid="sso-signed-in">Signed in as <strong>{user}</strong>. Name this device and enroll it.</p>}
      <label>Your user name<input name="user" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} /></label>
      <label>Activation code<input name="code" autocomplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} /></label>
      <label>Name of this device<input name="device" maxLength={64} value={deviceName} onInput={(e) => setDeviceName(e.currentTarget.value)} /></label>
      <label>
        Passphrase (optional; required if your organisation says so)
        <input name="passphrase" type="password" autocomplete="new-password" value={passphrase} onInput={(e) => setPassphrase(e.currentTarget.value)} />
      </label>
      <Action type="submit" kind="primary" label="Enroll this browser" busyLabel="Making your keys…" testid="enroll" onRun={() => enroll({ user, code, deviceName, ...(passphrase ? { passphrase } : {}) })} />
    </form>
  );
}

function LinkForm(): JSX.Element {
  const [user, setUser] = useState('');
  const [deviceName, setDeviceName] = useState(defaultDeviceName());
  const [passphrase, setPassphrase] = useState('');
  const abort = useRef<AbortController | null>(null);
  const code = linking.value;
  return (
    <form class="card" aria-label="Link this browser" onSubmit={(e) => e.preventDefault()}>
      <label>Your user name<input name="user" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} /></label>
      <label>Name of this device<input name="device" maxLength={64} value={deviceName} onInput={(e) => setDeviceName(e.currentTarget.value)} /></label>
      <label>
        Passphrase (optional)
        <input name="passphrase" type="password" autocomplete="new-password" value={passphrase} onInput={(e) => setPassphrase(e.currentTarget.value)} />
      </label>
      <Action
        type="submit"
        kind="primary"
        label="Link this browser"
        busyLabel="Waiting for approval…"
        testid="link"
        onRun={async () => {
          abort.current = new AbortController();
          await link({ user, deviceName, ...(passphrase ? { passphrase } : {}) }, abort.current.signal);
        }}
      />
      {code && (
        <section class="link-code" aria-live="polite" data-testid="link-code">
          <h2>Approve this browser on your other device</h2>
          <p>
            On a device that already has your account, approve this code (in the web app under Devices, or with
            <code> sealpost devices approve</code>):
          </p>
          <p class="code" data-testid="link-code-value">{code.code}</p>
          <Qr text={code.qr} label={`QR code for link code ${code.code}`} />
          <p>Check that the other device shows these digits: <strong class="digits" data-testid="link-fingerprint">{code.fingerprint}</strong></p>
          <p class="muted">The request expires at {new Date(code.expiresAt).toLocaleTimeString()}.</p>
          <button type="button" onClick={() => abort.current?.abort()}>Cancel</button>
        </section>
      )}
    </form>
  );
}

export function Unlock(): JSX.Element {
  const [passphrase, setPassphrase] = useState('');
  return (
    <main class="welcome">
      <h1>Unlock Sealpost</h1>
      <p>Your organisation protects Sealpost’s data on this device with a passphrase.</p>
      <ProblemBanner />
      <form class="card" aria-label="Unlock" onSubmit={(e) => e.preventDefault()}>
        <label>Passphrase<input name="passphrase" type="password" autocomplete="current-password" required value={passphrase} onInput={(e) => setPassphrase(e.currentTarget.value)} /></label>
        <Action type="submit" kind="primary" label="Unlock" busyLabel="Unlocking…" onRun={() => open(passphrase)} />
      </form>
    </main>
  );
}
