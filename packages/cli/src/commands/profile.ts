// `sealpost profile passphrase`: encrypt a device's local store, change its passphrase, or remove it.
import type { Command } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { ProfileStore } from '@sealpost/client';
import { jsonOption, passphraseFor, profileOf, profileOption, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';
import { askSecret } from '../prompt.js';

export function registerProfileCommands(program: Command): void {
  const profile = program.command('profile').description("this device's local store");
  profile
    .command('passphrase')
    .description('set or change the passphrase that encrypts the local store (new one from SEALPOST_NEW_PASSPHRASE or asked)')
    .addOption(profileOption())
    .option('--remove', 'decrypt the store (refused by clients whose policy requires a passphrase)')
    .addOption(jsonOption())
    .action(async (o: { profile?: string; remove?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const dir = profileOf(o);
      const current = await passphraseFor(dir);
      let next: string | undefined;
      if (!o.remove) {
        next = process.env.SEALPOST_NEW_PASSPHRASE;
        if (!next) {
          if (!process.stdin.isTTY) throw new SealpostError('INVALID_INPUT', 'set SEALPOST_NEW_PASSPHRASE, or run on a terminal');
          next = await askSecret('New passphrase: ');
          if ((await askSecret('Repeat passphrase: ')) !== next) throw new SealpostError('INVALID_INPUT', 'the two passphrases differ');
        }
      }
      const store = ProfileStore.open(dir, { create: false, ...(current ? { passphrase: current } : {}) });
      try {
        store.changePassphrase(next);
      } finally {
        store.close();
      }
      out.result({ profile: dir, encrypted: next !== undefined }, next ? 'the local store is encrypted with the new passphrase' : 'the local store is no longer encrypted');
    });
}
