// A private Postfix instance for tests: Debian's Postfix (an outside MTA nobody here wrote), on a loopback port of
// its own, with its own config, queue and Maildir in a temp folder; the machine's own Postfix is never touched or
// started. It delivers mail for outside.example to a Maildir and relays mail for `relayDomain` to the Sealpost gateway.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MASTER = '/usr/lib/postfix/sbin/master';

/** Why Postfix cannot run here, or undefined when it can (it needs its binaries and root, to drop to its users). */
export function postfixUnavailable(): string | undefined {
  if (!existsSync(MASTER) || !existsSync('/usr/sbin/postconf')) return 'Postfix is not installed (apt-get install postfix; .ci/run does)';
  if (process.getuid?.() !== 0) return 'Postfix needs root to start (it drops to its own users)';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Postfix {
  port: number;
  /** Messages delivered to the Maildir so far (raw). */
  delivered(): Buffer[];
  log(): string;
  stop(): void;
}

export async function startPostfix(opts: { relayDomain: string; relayPort: number }): Promise<Postfix> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-postfix-'));
  chmodSync(dir, 0o755); // Postfix's own users must reach their folders inside
  const [conf, queue, data, mail] = ['conf', 'queue', 'data', 'mail'].map((d) => join(dir, d));
  for (const d of [conf, queue, data, mail]) mkdirSync(d!, { recursive: true });
  const uid = (name: string) => Number(execFileSync('id', ['-u', name]).toString().trim());
  chownSync(data!, uid('postfix'), -1);
  chownSync(mail!, 65534, 65534);
  const port = await freePort();
  writeFileSync(
    join(conf!, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${queue}`,
      `data_directory = ${data}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = mx.outside.example',
      'mydomain = outside.example',
      'myorigin = outside.example',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'virtual_mailbox_domains = outside.example',
      `virtual_mailbox_base = ${mail}`,
      'virtual_mailbox_maps = static:inbox/',
      'virtual_uid_maps = static:65534',
      'virtual_gid_maps = static:65534',
      `transport_maps = inline:{ ${opts.relayDomain}=smtp:[127.0.0.1]:${opts.relayPort} }`,
      'smtp_tls_security_level = may',
      'smtpd_tls_security_level = none',
      'smtp_dns_support_level = disabled',
      `maillog_file = ${join(dir, 'maillog')}`,
      `maillog_file_prefixes = ${dir}`,
      'biff = no',
      // Retry quickly in tests: the gateway may answer 4xx while a user has no mail keys yet.
      'queue_run_delay = 1s',
      'minimal_backoff_time = 1s',
      'maximal_backoff_time = 2s',
    ].join('\n') + '\n',
  );
  const master = readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp {6}inet.*$/m, `127.0.0.1:${port} inet n - n - - smtpd`);
  writeFileSync(join(conf!, 'master.cf'), master);
  execFileSync('/usr/lib/postfix/sbin/post-install', [
    'create-missing', 'meta_directory=/etc/postfix', `config_directory=${conf}`, `queue_directory=${queue}`, `data_directory=${data}`,
    'daemon_directory=/usr/lib/postfix/sbin', 'command_directory=/usr/sbin', 'mail_owner=postfix', 'setgid_group=postdrop',
  ], { env: { ...process.env, MAIL_CONFIG: conf } });
  execFileSync(MASTER, ['-c', conf!, '-w']);
  const inbox = join(mail!, 'inbox', 'new');
  return {
    port,
    delivered: () => (existsSync(inbox) ? readdirSync(inbox).map((f) => readFileSync(join(inbox, f))) : []),
    log: () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8') : ''),
    stop() {
      try {
        process.kill(Number(readFileSync(join(queue!, 'pid', 'master.pid'), 'utf8').trim()));
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
