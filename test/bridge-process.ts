// `sealpost bridge` as a separate process beside a profile, for tests that drive it with real mail programs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/bin/sealpost.js', import.meta.url));

export interface BridgeProcess {
  child: ChildProcess;
  imap: number;
  smtp: number;
  /** Only on the first run (or with --new-password). */
  password?: string;
}

/** Starts the bridge on loopback port 0 (unless `extra` says otherwise) and reads where it listens from its --json line. */
export async function startBridgeProcess(profile: string, extra: string[] = []): Promise<BridgeProcess> {
  const child = spawn(process.execPath, [bin, 'bridge', '--profile', profile, '--imap', '127.0.0.1:0', '--smtp', '127.0.0.1:0', '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const rl = createInterface({ input: child.stdout! });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge did not start: ${err}`)), 30_000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = JSON.parse(line) as { imap: string; smtp: string; password?: string };
      resolve({ child, imap: Number(m.imap.split(':')[1]), smtp: Number(m.smtp.split(':')[1]), ...(m.password ? { password: m.password } : {}) });
    });
    child.once('exit', (code) => reject(new Error(`bridge exited ${code}: ${err}`)));
  });
}

export const stopBridge = (b: BridgeProcess) =>
  new Promise<void>((resolve) => {
    if (b.child.exitCode !== null) return resolve();
    b.child.once('exit', () => resolve());
    b.child.kill('SIGTERM');
  });

