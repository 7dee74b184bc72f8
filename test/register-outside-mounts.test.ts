// With shieldfs/register loaded, everything outside the mounts is node:fs as it was: one probe script
// runs under plain node and under the register (a volume mounted at /V1), and what it sees outside
// the mount must be identical. The parts node:fs's wrappers once changed are probed one by one:
// util.promisify of read/readv/write/writev/exists, fs.promises.watch, constructing the stream
// factories with `new`, relative paths once the working directory is gone.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';

import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { useTempDir } from './support/temp.js';

const REGISTER = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-outside-mounts-');

const PROBE = String.raw`
const fs = require('node:fs');
const { promisify } = require('node:util');
const { join } = require('node:path');
const os = require('node:os');

async function main() {
  const seen = {};
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'shieldfs-probe-'));
  const file = join(dir, 'f');
  fs.writeFileSync(file, 'hello world');
  const fd = fs.openSync(file, 'r+');
  const read = await promisify(fs.read)(fd, Buffer.alloc(5), 0, 5, 0);
  seen.read = { keys: Object.keys(read), bytesRead: read.bytesRead, text: read.buffer.toString() };
  const readv = await promisify(fs.readv)(fd, [Buffer.alloc(3), Buffer.alloc(3)], 0);
  seen.readv = { keys: Object.keys(readv), bytesRead: readv.bytesRead };
  const write = await promisify(fs.write)(fd, Buffer.from('HE'), 0, 2, 0);
  seen.write = { keys: Object.keys(write), bytesWritten: write.bytesWritten };
  const writev = await promisify(fs.writev)(fd, [Buffer.from('L'), Buffer.from('L')], 2);
  seen.writev = { keys: Object.keys(writev), bytesWritten: writev.bytesWritten };
  fs.closeSync(fd);
  seen.content = fs.readFileSync(file, 'utf8');
  seen.exists = [await promisify(fs.exists)(file), await promisify(fs.exists)(join(dir, 'nope'))];

  const watcher = fs.promises.watch(dir, { signal: AbortSignal.timeout(50) });
  seen.watch = { promise: watcher instanceof Promise, iterable: typeof watcher[Symbol.asyncIterator] };
  try { for await (const _ of watcher) break; } catch (error) { seen.watch.ended = error.name; }

  const readStream = new fs.createReadStream(file);
  const writeStream = new fs.createWriteStream(join(dir, 'w'));
  seen.streams = [readStream instanceof fs.ReadStream, writeStream instanceof fs.WriteStream];
  readStream.destroy();
  await new Promise((done) => writeStream.end('x', done));

  const gone = fs.mkdtempSync(join(os.tmpdir(), 'shieldfs-cwd-'));
  process.chdir(gone);
  fs.rmdirSync(gone);
  const errorOf = (action) => { try { action(); return 'no error'; } catch (e) { return { code: e.code, syscall: e.syscall, path: e.path, message: e.message }; } };
  seen.relativeAfterCwdRemoved = {
    stat: errorOf(() => fs.statSync('x')),
    write: errorOf(() => fs.writeFileSync('x', 'y')),
    exists: fs.existsSync('x'),
  };
  process.chdir(os.tmpdir());
  fs.rmSync(dir, { recursive: true });

  if (process.env.SHIELD_CONFIG) {
    fs.writeFileSync('/V1/m', 'mounted');
    const mfd = fs.openSync('/V1/m', 'r');
    const mread = await promisify(fs.read)(mfd, Buffer.alloc(7), 0, 7, 0);
    fs.closeSync(mfd);
    let watchInMount;
    try { for await (const _ of fs.promises.watch('/V1')) break; } catch (error) { watchInMount = error.code; }
    seen.mounted = {
      read: { bytesRead: mread.bytesRead, text: mread.buffer.toString() },
      exists: [await promisify(fs.exists)('/V1/m'), await promisify(fs.exists)('/V1/nope')],
      watch: watchInMount,
      stream: new fs.createReadStream('/V1/m') instanceof fs.ReadStream,
    };
  }
  console.log(JSON.stringify(seen));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

let probe: string;
let config: string;

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  probe = temp('probe.cjs');
  writeFileSync(probe, PROBE);
  config = temp('shield.json');
  writeFileSync(config, JSON.stringify({
    mounts: [{ path: '/V1', volume: temp('v1'), key: randomBytes(32).toString('hex'), create: true, tagStore: `file:${temp('tags.json')}` }],
  }));
});

function run(withRegister: boolean): Record<string, unknown> {
  const result = spawnSync(process.execPath, [...(withRegister ? ['-r', REGISTER] : []), probe], {
    encoding: 'utf8', timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: '', SHIELD_CONFIG: withRegister ? config : '' },
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('outside the mounts the register changes nothing', () => {
  test('promisify, promises.watch, new createReadStream, relative paths without a working directory', () => {
    const plain = run(false);
    const registered = run(true);
    const { mounted, ...outside } = registered;
    expect(outside).toEqual(plain);
    // The probe itself: what node:fs gives, so that the comparison above means something.
    expect(plain).toMatchObject({
      read: { keys: ['bytesRead', 'buffer'], bytesRead: 5, text: 'hello' },
      readv: { keys: ['bytesRead', 'buffers'], bytesRead: 6 },
      write: { keys: ['bytesWritten', 'buffer'], bytesWritten: 2 },
      writev: { keys: ['bytesWritten', 'buffer'], bytesWritten: 2 },  // node's own naming for writev
      content: 'HELLo world',
      exists: [true, false],
      watch: { promise: false, iterable: 'function', ended: 'AbortError' },
      streams: [true, true],
      relativeAfterCwdRemoved: { stat: { code: 'ENOENT', syscall: 'stat', path: 'x' }, exists: false },
    });
    // Inside the mount the same calls reach the volume.
    expect(mounted).toEqual({
      read: { bytesRead: 7, text: 'mounted' }, exists: [true, false], watch: 'ENOTSUP', stream: true,
    });
  });
});

