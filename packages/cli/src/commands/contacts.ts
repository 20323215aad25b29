// `sealpost contacts …`: OpenPGP keys of people outside the organisation (imported, or learned from the Autocrypt
// header of mail they sent), and this account's own key to give them.
import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { SealpostError } from '@sealpost/protocol';
import { jsonOption, profileOption, withClient, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';

const MAX_KEY_FILE = 64 * 1024;

export function registerContactsCommands(program: Command): void {
  const contacts = program.command('contacts').description("outside people's OpenPGP keys, and your own");
  contacts
    .command('import-key <file>')
    .description("import an outside person's OpenPGP public key (armored or binary, v4); mail to them is then encrypted")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (file: string, o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) throw new SealpostError('FILE_NOT_FOUND', `${file}: no such file`);
      if (st.size > MAX_KEY_FILE) throw new SealpostError('OPENPGP_INVALID', `${file}: over 64 KiB, not a public key`);
      const data = new Uint8Array(await readFile(file));
      await withClient(o, out, async (c) => {
        const added = await c.importOutsideKey(data);
        for (const k of added) out.result({ address: k.address, fingerprint: k.fingerprint, source: k.source }, `imported ${k.address}  fingerprint ${k.fingerprint}`);
        if (added.length === 0) out.info('already known');
      });
    });
  contacts
    .command('keys')
    .description("outside people's keys this device knows, with fingerprints (compare them with the person)")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const keys = c.outsideKeys();
        for (const k of keys) out.result({ address: k.address, fingerprint: k.fingerprint, source: k.source, addedAt: k.addedAt }, `${k.address}  ${k.fingerprint}  (${k.source}, ${k.addedAt})`);
        if (keys.length === 0) out.info('no outside keys yet');
      });
    });
  contacts
    .command('my-key')
    .description("this account's OpenPGP public key (armored) and fingerprint, to give to outside people")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const k = await c.ownOpenpgpKey();
        out.result(k, `${k.address}  fingerprint ${k.fingerprint}\n${k.armored}`);
      });
    });
}
