// Legal hold in the web app (docs/legal-hold.md): where the organisation's archive records — the conversation is
// archived, or a recipient is held — the first send says so and asks; yes is remembered for that hold.
import type { SealpostClient } from '../sdk/platform.browser.js';

/** Run a send; if it would go where a hold the user has not yet seen records, ask once, then send again. */
export async function confirmingArchive<T>(c: SealpostClient, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const e = err as { code?: string; message?: string; holds?: { id: string }[] };
    if (e.code !== 'ARCHIVE_NOT_ACKNOWLEDGED' || !e.holds) throw err;
    if (!window.confirm(`${e.message?.replace(/; confirm once.*$/, '')}.\n\nSend anyway?`)) throw err;
    c.acknowledgeArchived(e.holds.map((h) => h.id));
    return send();
  }
}
