// shieldfs/register: `node --import shieldfs/register app.mjs` or `node -r shieldfs/register app.cjs`.
// Reads SHIELD_CONFIG (YAML or JSON with a `mounts` list), mounts everything synchronously, makes
// the shield the process's node:fs, and lets code inside protected trees be imported and required.
// Without SHIELD_CONFIG it does nothing. A failure ends the process before the application starts,
// with `shield: CODE: message` on stderr and the exit status of the `shield` CLI.
import { isMainThread } from 'node:worker_threads';
import { loadShieldConfig } from './mount-config.js';
import { mountSync } from './mount.js';
import { installProcessShield, reportFailure } from './process-shield.js';
import { installModuleLoading } from './register/module-loading.js';

const configFile = process.env.SHIELD_CONFIG;
if (configFile) {
  try {
    const { mounts } = loadShieldConfig(configFile);
    // A volume is opened for writing by one holder: the main thread. Worker threads see the
    // read-only trees (README, "Worker threads and child processes").
    const shield = mountSync(isMainThread ? mounts : mounts.filter((spec) => spec.tree));
    installProcessShield(shield);
    installModuleLoading(shield, mounts.filter((spec) => spec.tree));
  } catch (error) {
    reportFailure(error);
    process.exit();
  }
}
