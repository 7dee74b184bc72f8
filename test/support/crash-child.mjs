// One commit of a crash-sweep workload, run in a child process so SHIELDFS_CRASH_AT can kill it at
// any durable step (test/volume-crash.test.ts). Usage: node crash-child.mjs DIR TAG_STORE KEY_HEX WORKLOAD
import { Volume } from '../../dist/index.js';
import { WORKLOADS } from './crash-workloads.mjs';

const [dir, tagStore, keyHex, workload] = process.argv.slice(2);
const volume = await Volume.open(dir, { key: Buffer.from(keyHex, 'hex'), tagStore });
await WORKLOADS[workload](volume);
await volume.commit();
await volume.close();
process.stdout.write('committed\n');
