// The `sealpost` command line: one file per command group in commands/ (server, admin, devices, profile, verify,
// chat, mail, files). Scriptable: every command takes --json (one JSON object per line on stdout); failures exit
// non-zero with a stable error code on stderr.
import { Command, CommanderError } from 'commander';
import { SealpostError, VERSION } from '@sealpost/protocol';
import { registerAdminCommands } from './commands/admin.js';
import { registerChatCommands } from './commands/chat.js';
import { registerDeviceCommands } from './commands/devices.js';
import { registerFileCommands } from './commands/files.js';
import { registerMailCommands } from './commands/mail.js';
import { registerContactsCommands } from './commands/contacts.js';
import { registerBridgeCommand } from './commands/bridge.js';
import { registerArchiveCommands } from './commands/archive.js';
import { registerProfileCommands } from './commands/profile.js';
import { registerServerCommand } from './commands/server.js';
import { registerVerifyCommands } from './commands/verify.js';
import { registerWebCommands } from './commands/web.js';
import { reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('sealpost')
    .description('Sealpost: end-to-end encrypted chat on MLS, self-hosted')
    .version(VERSION)
    .exitOverride()
    // Commander's own error messages are reported by main() like every other error (set before the subcommands,
    // which inherit it).
    .configureOutput({ outputError: () => {} });
  registerServerCommand(program);
  registerAdminCommands(program);
  registerDeviceCommands(program);
  registerProfileCommands(program);
  registerVerifyCommands(program);
  registerChatCommands(program);
  registerMailCommands(program);
  registerContactsCommands(program);
  registerBridgeCommand(program);
  registerArchiveCommands(program);
  registerFileCommands(program);
  registerWebCommands(program);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  // Output into a pipe that closed (`sealpost conversations | head -1`) ends the command quietly, as other tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command that ended by itself without failing, or set its own code (130 after Ctrl-C).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      // No command given: commander has shown that command's help on stderr.
      if (err.message === '(outputHelp)') return 1;
      // Unknown command or option, a missing argument: one line with a code, and where the help is.
      const message = err.message.replace(/^error: /, '');
      const code = reportError(new SealpostError('INVALID_INPUT', message), json);
      if (!json) process.stderr.write(`(see sealpost --help, or sealpost COMMAND --help)\n`);
      return code;
    }
    return reportError(err, json);
  }
}
