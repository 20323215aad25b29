// A private Dovecot (Debian's dovecot-imapd, an IMAP server nobody here wrote) on a loopback port of its own, with
// its own config, Maildir and logs in a temp folder: the reference the bridge is compared with. The machine's Dovecot
// service is never started.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/** Why Dovecot cannot run here, or undefined. @returns {string | undefined} */
export function dovecotUnavailable() {
  if (!existsSync('/usr/sbin/dovecot')) return 'Dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)';
  if (process.getuid?.() !== 0) return 'Dovecot needs root to start (it drops to its own users)';
  return undefined;
}

/** @returns {Promise<number>} */
async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** @returns {Promise<{ port: number, user: string, password: string, stop(): Promise<void> }>} */
export async function startDovecot() {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-dovecot-'));
  chmodSync(dir, 0o755);
  const mail = join(dir, 'mail');
  mkdirSync(mail);
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
  chownSync(mail, uid, gid);
  const port = await freePort();
  const password = 'dovecot-test-password';
  writeFileSync(
    join(dir, 'dovecot.conf'),
    `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${mail}/%u
first_valid_uid = ${uid}
passdb {
  driver = static
  args = password=${password}
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${mail}/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
protocol imap {
  mail_max_userip_connections = 100
}
`,
  );
  const child = spawn('/usr/sbin/dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  // Ready when the port answers with a greeting.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('data', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`dovecot exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    user: 'bob',
    password,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
