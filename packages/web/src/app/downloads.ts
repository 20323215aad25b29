// Saving an attachment: decrypted chunk by chunk into a file in the origin-private file system (on disk, never the
// whole file in memory), then handed to the browser's own download, and removed from there afterwards.
import type { SealpostClient } from '../sdk/platform.browser.js';

export async function saveAttachment(c: SealpostClient, id: string, name: string, onProgress: (done: number, total: number) => void): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const tmpName = `download-${crypto.randomUUID()}`;
  const handle = await root.getFileHandle(tmpName, { create: true });
  try {
    const writable = await handle.createWritable();
    await c.saveAttachment(id, writable, { onProgress });
    const file = await handle.getFile();
    const url = URL.createObjectURL(file);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.rel = 'noopener';
    document.body.append(a);
    a.click();
    a.remove();
    // The browser has the file (or is copying it) by then; the temporary copy goes after a while.
    setTimeout(() => {
      URL.revokeObjectURL(url);
      void root.removeEntry(tmpName).catch(() => {});
    }, 60_000);
  } catch (err) {
    await root.removeEntry(tmpName).catch(() => {});
    throw err;
  }
}
