// Devices: this account's devices (the account-signed list and what the server knows), revoking one, and
// approving a new device with the code it shows, after comparing its digits.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { LinkRequestInfo, OwnDevice } from '@sealpost/client/browser';
import { client, refresh, revision, show } from '../state.js';
import { Action, time } from './common.js';

export function Devices(): JSX.Element {
  const c = client.value!;
  const rev = revision.value;
  const [devices, setDevices] = useState<OwnDevice[] | null>(null);
  const load = () => c.devices().then(setDevices, show);
  useEffect(() => void load(), [rev]);
  return (
    <div class="single">
      <h2>Your devices</h2>
      {devices === null ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <table class="devices" data-testid="device-list">
          <thead>
            <tr><th scope="col">Device</th><th scope="col">Added</th><th scope="col">Last seen</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <tr data-testid="device" data-device={d.id}>
                <td>{d.name ?? d.id}{d.current && <strong> (this browser)</strong>}{!d.signed && d.status === 'active' && <span class="warn"> — not in your signed list!</span>}</td>
                <td>{time(d.createdAt)}</td>
                <td>{d.lastSeenAt ? time(d.lastSeenAt) : '—'}</td>
                <td>{d.status === 'active' ? 'Active' : 'Removed'}</td>
                <td>
                  {!d.current && d.status === 'active' && (
                    <Action kind="danger" label="Remove" busyLabel="Removing…" testid="revoke" onRun={async () => {
                      if (!confirm(`Remove ${d.name ?? d.id}? It will no longer read new messages.`)) return;
                      await c.revokeDevice(d.id);
                      await load();
                    }} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Approve onDone={() => { void load(); refresh(); }} />
    </div>
  );
}

function Approve(props: { onDone: () => void }): JSX.Element {
  const c = client.value!;
  const [code, setCode] = useState('');
  const [request, setRequest] = useState<LinkRequestInfo | null>(null);
  const [done, setDone] = useState<string | null>(null);
  return (
    <form class="card" aria-label="Approve a new device" onSubmit={(e) => e.preventDefault()}>
      <h2>Add a device</h2>
      <p>On the new device choose “Add this browser to my account” (or run <code>sealpost link</code>), then enter the code it shows.</p>
      <label>Link code<input name="link-code" value={code} onInput={(e) => { setCode(e.currentTarget.value); setRequest(null); }} /></label>
      {!request ? (
        <Action label="Look it up" busyLabel="Looking…" testid="link-lookup" onRun={async () => setRequest(await c.linkRequest(code.trim()))} />
      ) : (
        <div class="confirm" data-testid="link-request">
          <p>“{request.deviceName ?? 'A new device'}” asks to join your account. Does it show these digits?</p>
          <p class="digits" data-testid="approve-fingerprint">{request.fingerprint}</p>
          <Action kind="primary" label="Yes, approve it" busyLabel="Approving…" testid="approve" onRun={async () => {
            const r = await c.approveLink(code.trim(), { fingerprint: request.fingerprint });
            setDone(`Approved. It joins ${r.conversations} conversation${r.conversations === 1 ? '' : 's'}.`);
            setRequest(null);
            setCode('');
            props.onDone();
          }} />
          <button type="button" onClick={() => setRequest(null)}>No</button>
        </div>
      )}
      {done && <p role="status">{done}</p>}
    </form>
  );
}
