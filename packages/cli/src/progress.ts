// A progress bar for long transfers, on stderr, only when stderr is a terminal and output is not --json.
import cliProgress from 'cli-progress';

export type Progress = (done: number, total: number) => void;

export interface ProgressBar {
  onProgress: Progress | undefined;
  stop(): void;
}

const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

export function progressBar(label: string, json: boolean): ProgressBar {
  if (json || !process.stderr.isTTY) return { onProgress: undefined, stop() {} };
  let bar: cliProgress.SingleBar | undefined;
  let total = 0;
  let startedAt = 0;
  return {
    onProgress(done, t) {
      if (!bar) {
        // Small transfers finish before a bar is worth drawing.
        if (t < 4 * 1024 * 1024) return;
        total = t;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${label} [{bar}] {percentage}% {doneMiB}/{totalMiB} MiB {speed} MiB/s eta {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { doneMiB: '0.0', totalMiB: mib(total), speed: '0.0' });
        startedAt = Date.now();
      }
      const secs = Math.max(0.001, (Date.now() - startedAt) / 1000);
      bar.update(done, { doneMiB: mib(done), totalMiB: mib(total), speed: mib(done / secs) });
    },
    stop() {
      bar?.stop();
    },
  };
}

/** Run a transfer with a progress bar that is always taken down, also when the transfer fails. */
export async function withProgress<T>(label: string, json: boolean, run: (opts: { onProgress?: Progress }) => Promise<T>): Promise<T> {
  const bar = progressBar(label, json);
  try {
    return await run(bar.onProgress ? { onProgress: bar.onProgress } : {});
  } finally {
    bar.stop();
  }
}
