// The preload of a service started by `shield run --cas` (lib/cas/runtime.ts): reads the mounts the
// policy service released from the pipe on SHIELD_CAS_CONFIG_FD, lets the volumes keep their tags in
// the service (cas:// tag stores with this instance's credential), mounts everything and makes the
// shield the process's node:fs before the program's first line runs. The variable is removed and
// the pipe closed, so nothing of it reaches the program's own children.
import { closeSync, readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { HAND_OVER_FD_VARIABLE, type InstanceHandOver } from '../cas/runtime.js';
import { registerCasInstance } from '../cas/tag-store.js';
import { parseMountSpecs } from '../mount-config.js';
import { mountSync } from '../mount.js';
import { installProcessShield, reportFailure } from '../process-shield.js';
import { installModuleLoading, isEsmHooksThread } from './module-loading.js';

const fdText = process.env[HAND_OVER_FD_VARIABLE];
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
}
