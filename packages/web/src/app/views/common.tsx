// Small pieces the views share: the error banner, a QR code, a busy button, file sizes, times.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { encode } from 'uqr';
import { problem, show } from '../state.js';

export function ProblemBanner(): JSX.Element | null {
  const p = problem.value;
  if (!p) return null;
  return (
    <div class="problem" role="alert" data-testid="problem" data-code={p.code}>
      <p>{p.text}</p>
      <p class="detail">{p.code}: {p.detail}</p>
      <button type="button" onClick={() => (problem.value = null)}>Dismiss</button>
    </div>
  );
}

/** A QR code drawn as SVG (no script, no inline style: fits the page's Content-Security-Policy). */
export function Qr(props: { text: string; label: string }): JSX.Element {
  const { data, size } = encode(props.text, { ecc: 'M', border: 2 });
  let path = '';
  data.forEach((row, y) => row.forEach((on, x) => on && (path += `M${x} ${y}h1v1h-1z`)));
  return (
    <svg class="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={props.label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}

/** A button that runs an async action, shows it is busy, and reports a failure in the banner. */
export function Action(props: { label: string; busyLabel?: string; onRun: () => Promise<unknown>; kind?: 'primary' | 'danger' | 'plain'; type?: 'button' | 'submit'; disabled?: boolean; testid?: string }): JSX.Element {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type={props.type ?? 'button'}
      class={props.kind ?? 'plain'}
      disabled={busy || props.disabled}
      aria-busy={busy}
      data-testid={props.testid}
      onClick={async (e) => {
        e.preventDefault();
        setBusy(true);
        problem.value = null;
        try {
          await props.onRun();
        } catch (err) {
          show(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      {busy ? (props.busyLabel ?? 'Working…') : props.label}
    </button>
  );
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

// Made once: toLocaleTimeString builds a formatter per call, an eighth of the time to show 1,000 messages.
const clock = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
const dateAndClock = new Intl.DateTimeFormat([], { dateStyle: 'short', timeStyle: 'short' });

export function time(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return (today ? clock : dateAndClock).format(d);
}

/** Split "bob, carol@example.com; dave" into names. */
export function names(text: string): string[] {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}
