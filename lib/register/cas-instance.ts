// The preload of a service started by `shield run --cas` (lib/cas/runtime.ts): reads the mounts the
// policy service released from the pipe on SHIELD_CAS_CONFIG_FD, lets the volumes keep their tags in
// the service (cas:// tag stores with this instance's credential), mounts everything and makes the
// shield the process's node:fs before the program's first line runs. The variable is removed and
// the pipe closed, so nothing of it reaches the program's own children.
import { closeSync, readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { HAND_OVER_FD_VARIABLE, HELD_PATHS_VARIABLE, type InstanceHandOver } from '../cas/runtime.js';
import { registerCasInstance } from '../cas/tag-store.js';
import { parseMountSpecs } from '../fs/mount-config.js';
import { mountSync } from '../fs/mount.js';
import { installProcessShield, reportFailure } from '../fs/process-shield.js';
import { installModuleLoading, isEsmHooksThread } from './module-loading.js';

const fdText = process.env[HAND_OVER_FD_VARIABLE];
const heldText = process.env[HELD_PATHS_VARIABLE];
if (fdText !== undefined && isMainThread && !isEsmHooksThread()) {
  delete process.env[HAND_OVER_FD_VARIABLE];
  try {
    const fd = Number(fdText);
    if (!Number.isInteger(fd) || fd < 3) throw new Error(`${HAND_OVER_FD_VARIABLE} must name an inherited descriptor, got ${JSON.stringify(fdText)}`);
    const bytes = readFileSync(fd);
    closeSync(fd);
    const handOver = JSON.parse(bytes.toString('utf8')) as InstanceHandOver;
    bytes.fill(0);
    registerCasInstance(handOver.cas);
    const mounts = parseMountSpecs(handOver.mounts, 'the configuration released by the policy service');
    const shield = mountSync(mounts);
    installProcessShield(shield);
    installModuleLoading(shield, mounts.filter((spec) => spec.tree));
  } catch (error) {
    reportFailure(error);
    process.exit();
  }
} else if (heldText !== undefined && !isEsmHooksThread()) {
  // A worker thread or a Node child process of the service: the keys stay with the main thread, so
  // every call under a mount path fails with EBUSY instead of reaching the host's disk (where it
  // would read the host's files, or write plaintext into the volume's directory).
  try {
    const paths = JSON.parse(heldText) as unknown;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) throw new Error(`${HELD_PATHS_VARIABLE} is not a list of mount paths`);
    const why = isMainThread
      ? 'the mounts of a service started by `shield run --cas` are held by its main process; child processes cannot use them'
      : 'the mounts of a service started by `shield run --cas` are held by its main thread; worker threads cannot use them';
    installProcessShield(mountSync([], { heldElsewhere: paths.map((path) => ({ path, why })) }));
  } catch (error) {
    reportFailure(error);
    process.exit();
  }
}
