#!/usr/bin/env node
// The `shield` command line. Every failure ends as one line `shield: CODE: message` on stderr and
// the exit status of exit-status.ts.
import { Command, CommanderError } from 'commander';
import { volumeCommand } from './volume-commands.js';
import { createRequire } from 'node:module';
import { errorLine, exitStatusOf, USAGE_STATUS } from './exit-status.js';

const program = new Command('shield')
  .description('shieldfs: encrypted, integrity-checked, rollback-protected files for confidential services')
  .version(version());
program.addCommand(volumeCommand());
for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
  command.exitOverride().configureOutput({
    outputError: (message, write) => write(`shield: EINVAL: ${message.replace(/^error: /, '').trim()} (see \`${command.name() === 'shield' ? 'shield' : `shield … ${command.name()}`} --help\`)\n`),
  });
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; usage errors were already printed by commander.
    process.exitCode = error.exitCode === 0 ? 0 : USAGE_STATUS;
  } else {
    const { line, code } = errorLine(error);
    process.stderr.write(line + '\n');
    process.exitCode = exitStatusOf(code);
  }
}

function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
