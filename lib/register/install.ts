// What shieldfs/register does when SHIELD_CONFIG is set (lib/register.ts loads this module only
// then): mount synchronously, patch node:fs, install module loading for the trees.
import { isMainThread } from 'node:worker_threads';
import { loadProcessConfig } from '../fs/mount-config.js';
import { mountSync } from '../fs/mount.js';
import { installProcessShield, reportFailure } from '../fs/process-shield.js';
import { fileURLToPath } from 'node:url';
import { installModuleLoading, isEsmHooksThread } from './module-loading.js';
import { shieldEveryWorker } from './worker-shield.js';

const configFile = process.env.SHIELD_CONFIG;
// Node 20 also evaluates `-r` preloads on its module-loader thread, which has its own tree readers.
if (configFile && !isEsmHooksThread()) {
  try {
    // Under `shield run`, the configuration it checked (not a second read of the file: issue 11, item 6).
    const { mounts } = loadProcessConfig(process.env);
    // A volume has one holder: the main thread. A worker thread sees the read-only trees, and its
    // calls under a volume's mount path fail with EBUSY (README, "Worker threads and child processes").
    // A volume another process holds (this is a child its holder forked, say) is opened only when
    // this process first uses a path inside it: a child that never does just works.
    const shield = isMainThread ? mountSync(mounts, { deferBusyVolumes: true }) : mountSync(mounts.filter((spec) => spec.tree), {
      heldElsewhere: mounts.filter((spec) => spec.volume).map((spec) => ({
        path: spec.path, why: `the volume mounted there is held by the main thread; worker threads cannot use it`,
      })),
    });
    installProcessShield(shield);
    installModuleLoading(shield, mounts.filter((spec) => spec.tree));
    // Every worker this thread starts runs the register first (issue 11, item 1): lib/register.ts,
    // the entry point next to this folder.
    shieldEveryWorker(fileURLToPath(new URL('../register.js', import.meta.url)));
  } catch (error) {
    reportFailure(error);
    process.exit();
  }
}
