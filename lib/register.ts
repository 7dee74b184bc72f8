// shieldfs/register: `node --import shieldfs/register app.mjs` or `node -r shieldfs/register app.cjs`.
// Reads SHIELD_CONFIG (YAML or JSON with a `mounts` list), mounts everything synchronously, makes
// the shield the process's node:fs, and lets code inside protected trees be imported and required.
// Without SHIELD_CONFIG it does nothing. A failure ends the process before the application starts,
// with `shield: CODE: message` on stderr and the exit status of the `shield` CLI.
import { createRequire } from 'node:module';

// Everything else loads only when there is something to mount: a preload without SHIELD_CONFIG
// costs a process nothing. (A synchronous require, since `node -r` cannot wait for an import.)
if (process.env.SHIELD_CONFIG) createRequire(import.meta.url)('./register/install.js');
