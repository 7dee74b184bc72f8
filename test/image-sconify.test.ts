// shield sconify for real: a native image of the counter service built from this machine's node and
// the libraries it links, run with runc; sconified by the CLI as a user runs it; the result checked with
// skopeo and umoci, grepped for secrets in every blob, and run with runc (the runtime layer, run by the
// image's own node, mounting the protected tree). The round trip through the policy service (sconify
// --cas, runc running the image's entrypoint, the host's attacks) is test/image-cas-runc.test.ts.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractLayer, MEDIA_TYPES, openImage, scanLayer, sconifyImage, writeImage } from '../lib/image/index.js';
import { createHash } from 'node:crypto';
import { create as createTar } from 'tar';
import { Volume } from '../lib/volume/index.js';
import { importKey } from '../lib/file/index.js';
import { cliRunner, expectFailure, expectSuccess, SHIELD_JS } from './support/cli-run.js';
import { buildCounterImage, COUNTER_PATH, COUNTER_SOURCE, nodeRuntimeFiles, runBundle, toolsUnavailable, unpackBundle, type CounterImage } from './support/oci-bundle.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-sconify-');
const shield = cliRunner({});
const CAS_KEY = 'c0ffee'.repeat(10) + 'c0ff';
// A line of the counter's source that nothing else contains: its presence anywhere in the output is a leak.
const SOURCE_MARK = 'The counter service of the stateful-service example';

const unavailable = toolsUnavailable();
if (unavailable && process.env.SHIELDFS_REQUIRE_CONTAINER_TOOLS === '1') {
  throw new Error(`SHIELDFS_REQUIRE_CONTAINER_TOOLS=1 but ${unavailable}`);
}
if (unavailable) console.warn(`skipping the runc/umoci/skopeo tests: ${unavailable}`);

let native: CounterImage;
beforeAll(async () => {
  native = await buildCounterImage(temp('work'), temp('layout'));
}, 120_000);

/** Every blob of a layout, and the uncompressed form of the gzip ones. */
function everyBlobText(layout: string): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const name of ['index.json', 'oci-layout']) out.push({ name, bytes: fs.readFileSync(join(layout, name)) });
  for (const name of fs.readdirSync(join(layout, 'blobs/sha256'))) {
    const bytes = fs.readFileSync(join(layout, 'blobs/sha256', name));
    out.push({ name, bytes });
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) out.push({ name: `${name} (gunzipped)`, bytes: gunzipSync(bytes) });
  }
  return out;
}

function expectNoSecret(layout: string, secrets: { label: string; bytes: Buffer }[]): void {
  const blobs = everyBlobText(layout);
  expect(blobs.length).toBeGreaterThan(4);
  for (const blob of blobs) {
    for (const secret of secrets) expect(blob.bytes.includes(secret.bytes), `${secret.label} found in ${blob.name}`).toBe(false);
  }
}

async function unpackWithOurReader(reference: string, rootfs: string): Promise<void> {
  const [, dir, tag] = /^oci:(.*):([^:]+)$/.exec(reference)!;
  const image = await openImage({ kind: 'oci', dir: dir!, tag: tag! });
  fs.mkdirSync(rootfs, { recursive: true });
  for (const layer of image.layers) await extractLayer(layer.blobPath, layer.expected, await scanLayer(layer.blobPath, layer.expected, []), rootfs);
}

describe.skipIf(unavailable !== null)('with umoci, skopeo and runc', () => {
  it('the native image runs under runc: three runs print 0, 1, 2', () => {
    const bundle = temp('native-bundle');
    unpackBundle(native.layout, native.tag, bundle);
    const v1 = temp('native-v1');
    fs.mkdirSync(v1);
    const outputs = [0, 1, 2].map(() => runBundle(bundle, { binds: { '/V1': v1 } }));
    expect(outputs.map((o) => `${o.status} ${o.stdout.trim()}`)).toEqual(['0 0', '0 1', '0 2']);
    expect(fs.readFileSync(join(v1, 'num'), 'utf8')).toBe('3');
  });

  it('with hostNetwork, a container reaches a server on the host\'s loopback (as the policy service will be)', async () => {
    const server = spawn(process.execPath, ['-e', "require('http').createServer((q, r) => r.end('hello from the host')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"]);
    try {
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        server.once('error', reject);
      });
      const bundle = temp('network-bundle');
      unpackBundle(native.layout, native.tag, bundle);
      const fetchArgs = [process.execPath, '-e', `require('http').get('http://127.0.0.1:${port}', (r) => r.pipe(process.stdout)).on('error', (e) => { console.error(e.code); process.exit(1); })`];
      expect(runBundle(bundle, { hostNetwork: true, args: fetchArgs }).stdout).toBe('hello from the host');
      const isolated = runBundle(bundle, { args: fetchArgs });  // its own network namespace: no host loopback
      expect(isolated.status).toBe(1);
      expect(isolated.stderr.trim()).toBe('ECONNREFUSED');
    } finally {
      server.kill();
    }
  });

  it('sconifies to an OCI layout: skopeo reads it, nothing secret is in any blob, and the runtime runs the protected tree under runc', () => {
    const out = temp('confidential');
    const sessionFile = temp('session.yaml');
    const result = shield(['sconify', '--from', native.reference, '--to', `oci:${out}:confidential`, '--name', 'demo/counter', '--service-name', 'counter',
      '--dir', '/app', '--volume', 'V1:/V1', '--no-upload', '--session-file', sessionFile, '--tolerate', 'simulation', '--max-executions', '3',
      '--cas', 'https://127.0.0.1:8081', '--cas-key', CAS_KEY, '--json'], { env: { SHIELD_TAG_STORE: undefined } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.out) as { imageDigest: string; trees: { path: string; tag: string }[]; runtime: { node: string; nodeVersion: string; libc: { kind: string } } };
    expect(summary.runtime).toMatchObject({ node: '/usr/bin/node', nodeVersion: process.versions.node, libc: { kind: 'glibc' } });

    // The session: the image's command, environment and pwd; the tree's key and tag; the volume.
    expect(fs.statSync(sessionFile).mode & 0o777).toBe(0o600);
    const session = parseYaml(fs.readFileSync(sessionFile, 'utf8')) as {
      name: string; version: string;
      services: { command: string; pwd: string; environment: Record<string, string>; max_executions: number; trees: { path: string; key: string; tag: string }[]; measurement?: string }[];
      volumes: unknown[]; images: unknown[]; security: unknown;
    };
    expect(session).toMatchObject({
      name: 'demo/counter', version: '0.3',
      volumes: [{ name: 'V1', update_policy: 'rollback_protected' }],
      images: [{ name: 'counter_image', volumes: [{ name: 'V1', path: '/V1' }] }],
      security: { attestation: { tolerate: ['simulation'] } },
    });
    const service = session.services[0]!;
    expect(service).toMatchObject({ command: `${process.execPath} /app/counter.cjs /V1/num`, pwd: '/app', max_executions: 3, environment: { LANG: 'C.UTF-8' } });
    // The runtime's measurement, of the image's node and the runtime layer as the image holds them.
    expect(service.measurement).toMatch(/^[0-9a-f]{64}$/);
    expect((summary as unknown as { measurement: string }).measurement).toBe(service.measurement);
    expect(service.trees).toHaveLength(1);
    const tree = service.trees[0]!;
    expect(tree.path).toBe('/app');
    expect(tree.key).toMatch(/^[0-9a-f]{64}$/);
    expect(tree.tag).toBe(summary.trees[0]!.tag);
    expect(result.out).not.toContain(tree.key);  // keys only in the session file

    // skopeo reads the layout; the configuration is the confidential one.
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${out}:confidential`], { encoding: 'utf8' })) as { config: { Entrypoint: string[]; Cmd?: string[]; Env: string[]; Volumes: Record<string, object>; WorkingDir: string } };
    expect(inspected.config.Entrypoint).toEqual([process.execPath, '/opt/shieldfs/dist/cli/shield.js', 'run']);
    expect(inspected.config.Cmd ?? null).toBeNull();
    expect(inspected.config.Env).toEqual(expect.arrayContaining(['SHIELD_SESSION=demo/counter', 'SHIELD_SERVICE=counter', 'SHIELD_CAS=https://127.0.0.1:8081', `SHIELD_CAS_KEY=${CAS_KEY}`]));
    expect(Object.keys(inspected.config.Volumes)).toEqual(['/V1']);
    const manifest = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${out}:confidential`], { encoding: 'utf8' })) as { layers: { digest: string }[] };
    const nativeManifest = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', native.reference], { encoding: 'utf8' })) as { layers: { digest: string }[] };
    expect(manifest.layers).toHaveLength(4);  // node, the app layer without /app, the trees, the runtime
    expect(manifest.layers[0]!.digest).toBe(nativeManifest.layers[0]!.digest);  // untouched layers are reused as they are
    expect(manifest.layers[1]!.digest).not.toBe(nativeManifest.layers[1]!.digest);

    // Nothing secret anywhere: not the code's text, not the key (hex or raw).
    expect(everyBlobText(native.layout).some((b) => b.bytes.includes(SOURCE_MARK))).toBe(true);  // the grep can find it
    expectNoSecret(out, [
      { label: 'the counter\'s source', bytes: Buffer.from(SOURCE_MARK) },
      { label: 'the tree key (hex)', bytes: Buffer.from(tree.key) },
      { label: 'the tree key (raw)', bytes: Buffer.from(tree.key, 'hex') },
    ]);

    // umoci unpacks it; runc runs the image's own node with the runtime layer, which mounts the tree
    // (key from a bind-mounted development configuration, as the policy service will hand it over)
    // and a volume: 0, 1, 2.
    const bundle = temp('confidential-bundle');
    unpackBundle(out, 'confidential', bundle);
    expect(fs.existsSync(join(bundle, 'rootfs/app/counter.cjs'))).toBe(false);
    expect(fs.existsSync(join(bundle, 'rootfs/app/.shieldfs'))).toBe(true);
    const cfg = temp('cfg');
    const store = temp('store');
    fs.mkdirSync(cfg);
    fs.mkdirSync(store);
    fs.writeFileSync(join(cfg, 'shield.yaml'), [
      'mounts:',
      `  - { path: /app, tree: /shielded/app, key: "${tree.key}", tag: "${tree.tag}" }`,
      '  - { path: /V1, volume: /store, keyEnv: V1_KEY, create: true, tagStore: "file:/cfg/tags.json" }',
      '',
    ].join('\n'));
    const run = () => runBundle(bundle, {
      binds: { '/cfg': cfg, '/store': store, '/shielded/app': join(bundle, 'rootfs/app') },
      args: [process.execPath, '/opt/shieldfs/dist/cli/shield.js', 'run', '--config', '/cfg/shield.yaml', '--', process.execPath, '/app/counter.cjs', '/V1/num'],
      env: [`V1_KEY=${'11'.repeat(32)}`],
    });
    const outputs = [run(), run(), run()];
    expect(outputs.map((o) => `${o.status} ${o.stdout.trim()} ${o.stderr.trim()}`)).toEqual(['0 0 ', '0 1 ', '0 2 ']);

    // A byte of the code changed in the image's layer (here: in the unpacked bundle) is refused.
    const objects = join(bundle, 'rootfs/app/.shieldfs/objects');
    const codeObject = (fs.readdirSync(objects, { recursive: true }) as string[]).map((p) => join(objects, p.toString())).find((p) => fs.statSync(p).isFile() && fs.statSync(p).size > 4096)!;
    const bytes = fs.readFileSync(codeObject);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x01;
    fs.writeFileSync(codeObject, bytes);
    const refused = run();
    expect(refused.status).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/EINTEGRITY/);
  });

  it('the native image\'s command changed and sconified again: the new session says so, the runtime layer is the same, the trees\' keys and tags differ', async () => {
    const edited = await buildCounterImage(temp('work-edited'), native.layout, 'native-v20', { cmd: ['/app/counter.cjs', '-v', '20'] });
    const sconify = (from: string, tag: string) => {
      const sessionFile = temp(`${tag}.yaml`);
      expectSuccess(shield(['sconify', '--from', from, '--to', `oci:${temp('edit-out')}:${tag}`, '--name', 'demo/counter', '--service-name', 'counter',
        '--dir', '/app', '--no-upload', '--session-file', sessionFile]));
      const session = parseYaml(fs.readFileSync(sessionFile, 'utf8')) as { services: { command: string; trees: { key: string; tag: string }[] }[] };
      const manifest = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${temp('edit-out')}:${tag}`], { encoding: 'utf8' })) as { layers: { digest: string }[] };
      return { service: session.services[0]!, runtimeLayer: manifest.layers[manifest.layers.length - 1]!.digest };
    };
    const before = sconify(native.reference, 'v1');
    const after = sconify(edited.reference, 'v2');
    expect(before.service.command).toBe(`${process.execPath} /app/counter.cjs /V1/num`);
    expect(after.service.command).toBe(`${process.execPath} /app/counter.cjs -v 20`);
    expect(after.runtimeLayer).toBe(before.runtimeLayer);  // the same runtime files, byte for byte
    expect(after.service.trees[0]!.key).not.toBe(before.service.trees[0]!.key);
    expect(after.service.trees[0]!.tag).not.toBe(before.service.trees[0]!.tag);
  });

  it('reads what other tools write: a legacy docker archive from skopeo, whiteouts from umoci repack', async () => {
    // skopeo's docker-archive is the legacy form (manifest.json, <digest>.json, one tar per layer).
    const archive = temp('skopeo.tar');
    execFileSync('skopeo', ['copy', '--quiet', native.reference, `docker-archive:${archive}:counter:native`]);
    const fromArchive = temp('from-skopeo');
    expectSuccess(shield(['sconify', '--from', `docker-archive:${archive}`, '--to', `oci:${fromArchive}:c`, '--name', 'demo/counter', '--service-name', 'counter',
      '--dir', '/app', '--no-upload', '--session-file', temp('from-skopeo.yaml')]));
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${fromArchive}:c`], { encoding: 'utf8' })) as { config: { Entrypoint: string[] } };
    expect(config.config.Entrypoint[1]).toBe('/opt/shieldfs/dist/cli/shield.js');
    expect(everyBlobText(fromArchive).some((b) => b.bytes.includes(SOURCE_MARK))).toBe(false);

    // umoci repack of a bundle where a file and a directory were deleted writes whiteouts for them.
    const layout = temp('whiteouts');
    execFileSync('skopeo', ['copy', '--quiet', native.reference, `oci:${layout}:base`]);
    const bundle = temp('whiteout-bundle');
    unpackBundle(layout, 'base', bundle);
    fs.rmSync(join(bundle, 'rootfs', COUNTER_PATH));
    fs.rmSync(join(bundle, 'rootfs/tmp'), { recursive: true });
    fs.writeFileSync(join(bundle, 'rootfs/app/other.cjs'), 'console.log("other")');
    execFileSync('umoci', ['repack', '--image', `${layout}:deleted`, bundle], { stdio: 'ignore' });
    const rootfs = temp('whiteout-rootfs');
    await unpackWithOurReader(`oci:${layout}:deleted`, rootfs);
    expect(fs.readdirSync(join(rootfs, 'app'))).toEqual(['other.cjs']);
    expect(fs.existsSync(join(rootfs, 'tmp'))).toBe(false);
    expect(fs.existsSync(join(rootfs, 'usr/bin/node'))).toBe(true);
  });

  it('sconifies to a docker save archive that skopeo reads', () => {
    const file = temp('confidential.tar');
    const result = shield(['sconify', '--from', native.reference, '--to', `docker-archive:${file}`, '--name', 'demo/counter', '--service-name', 'counter',
      '--dir', '/app', '--no-upload', '--session-file', temp('archive-session.yaml'), '--image-name', 'counter:v2', '--volume', 'V1:/V1',
      '--k8s-helm-workload-type', 'statefulset', '--k8s-helm-output-dir', temp('charts'), '--k8s-helm-manifests', temp('manifests'), '--k8s-helm-expose', '8080']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.out).toMatch(/^demo\/counter\ndocker-archive:.* sha256:[0-9a-f]{64}\n$/);
    // The chart and its rendered objects: what the values say, and never the session's key.
    const key = (parseYaml(fs.readFileSync(temp('archive-session.yaml'), 'utf8')) as { services: { trees: { key: string }[] }[] }).services[0]!.trees[0]!.key;
    const chartFiles = (fs.readdirSync(temp('charts'), { recursive: true }) as string[]).map((p) => join(temp('charts'), p.toString())).filter((p) => fs.statSync(p).isFile());
    expect(chartFiles.map((p) => p.slice(temp('charts').length + 1)).sort()).toEqual([
      'counter/Chart.yaml', 'counter/README.md', 'counter/templates/NOTES.txt', 'counter/templates/_helpers.tpl', 'counter/templates/pvc.yaml',
      'counter/templates/service.yaml', 'counter/templates/statefulset.yaml', 'counter/values.yaml']);
    expect(fs.readdirSync(temp('manifests')).sort()).toEqual(['persistentvolumeclaim-counter-counter-v1.yaml', 'service-counter-counter.yaml', 'statefulset-counter-counter.yaml']);
    for (const file of [...chartFiles, ...fs.readdirSync(temp('manifests')).map((f) => join(temp('manifests'), f))]) {
      expect(fs.readFileSync(file, 'utf8'), file).not.toContain(key);
    }
    expect(fs.readFileSync(join(temp('manifests'), 'statefulset-counter-counter.yaml'), 'utf8')).toContain('image: counter:v2');
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `docker-archive:${file}`], { encoding: 'utf8' })) as { config: { Entrypoint: string[] } };
    expect(inspected.config.Entrypoint[1]).toBe('/opt/shieldfs/dist/cli/shield.js');
    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(expect.arrayContaining(['manifest.json', 'index.json', 'oci-layout']));
    const legacy = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[]; Layers: string[] }[];
    expect(legacy[0]!.RepoTags).toEqual(['counter:v2']);
    expect(legacy[0]!.Layers).toHaveLength(4);
  });
});

describe('sconify without container tools', () => {
  /** A root file system of the counter with this machine's node and libraries (dir: source). */
  function counterRootfs(name: string, extra: Record<string, string> = {}): string {
    const rootfs = temp(name);
    for (const file of nodeRuntimeFiles()) {
      fs.mkdirSync(join(rootfs, file, '..'), { recursive: true });
      fs.copyFileSync(fs.realpathSync(file), join(rootfs, file));
    }
    for (const [path, text] of Object.entries({ '/app/counter.cjs': COUNTER_SOURCE, ...extra })) {
      fs.mkdirSync(join(rootfs, path, '..'), { recursive: true });
      fs.writeFileSync(join(rootfs, path), text);
    }
    return rootfs;
  }

  it('makes trees with encrypted, authenticated and not-protected regions from --dir, --authenticated and --plain', async () => {
    const rootfs = counterRootfs('regions-rootfs', {
      '/app/secret.js': 'SECRET-ALGORITHM-TEXT',
      '/app/public/readme.txt': 'AUTHENTICATED-README-TEXT',
      '/app/static/logo.txt': 'PLAIN-STATIC-TEXT',
      '/usr/share/model/weights.txt': 'AUTHENTICATED-MODEL-TEXT',
    });
    const out = temp('regions-out');
    const result = await sconifyImage({
      from: `dir:${rootfs}`, to: `oci:${out}:c`, sessionName: 'demo/regions', serviceName: 'regions',
      command: [process.execPath, '/app/counter.cjs'], dirs: ['/app'], authenticated: ['/app/public', '/usr/share/model'], plain: ['/app/static', '/etc'],
    });
    expect(result.trees.map((t) => t.path)).toEqual(['/app', '/usr/share/model']);
    expect(result.plain).toEqual(['/etc']);
    expect(new Set(result.trees.map((t) => t.key)).size).toBe(2);  // a fresh key per tree

    // The encrypted file is nowhere in the image; the authenticated and plain ones are, as they should be.
    const texts = everyBlobText(out).map((b) => b.bytes.toString('latin1')).join('\n');
    expect(texts).not.toContain('SECRET-ALGORITHM-TEXT');
    expect(texts).not.toContain(SOURCE_MARK);
    for (const visible of ['AUTHENTICATED-README-TEXT', 'PLAIN-STATIC-TEXT', 'AUTHENTICATED-MODEL-TEXT']) expect(texts).toContain(visible);

    // Unpacked by our reader, the trees open with their keys and tags and read back every file.
    const unpacked = temp('regions-unpacked');
    await unpackWithOurReader(result.image.reference, unpacked);
    for (const tree of result.trees) {
      const key = importKey(tree.key);
      const volume = await Volume.open(join(unpacked, tree.path), { key, readOnly: true, expectedTag: tree.tag });
      try {
        if (tree.path === '/app') {
          expect((await volume.readFile('/secret.js')).toString()).toBe('SECRET-ALGORITHM-TEXT');
          expect((await volume.readFile('/public/readme.txt')).toString()).toBe('AUTHENTICATED-README-TEXT');
          expect((await volume.readFile('/static/logo.txt')).toString()).toBe('PLAIN-STATIC-TEXT');
          expect(volume.regions).toEqual(expect.arrayContaining([{ path: '/public', kind: 'authenticated' }, { path: '/static', kind: 'not-protected' }]));
        } else {
          expect((await volume.readFile('/weights.txt')).toString()).toBe('AUTHENTICATED-MODEL-TEXT');
          expect(volume.regions).toEqual([{ path: '/', kind: 'authenticated' }]);
        }
      } finally {
        await volume.close();
      }
    }
    expect(fs.existsSync(join(unpacked, 'app/secret.js'))).toBe(false);
    expect(fs.existsSync(join(unpacked, 'opt/shieldfs/dist/cli/shield.js'))).toBe(true);
    expect(fs.existsSync(join(unpacked, 'opt/shieldfs/build/Release/shieldfs.node'))).toBe(true);
  });

  it('protects a directory spread over several layers with a whiteout, rewriting only the layers that held it', async () => {
    const layout = temp('spread-layout');
    const makeLayer = (name: string, files: Record<string, string>) => {
      const dir = temp(`spread-${name}`);
      for (const [path, text] of Object.entries(files)) {
        fs.mkdirSync(join(dir, path, '..'), { recursive: true });
        fs.writeFileSync(join(dir, path), text);
      }
      const tarPath = `${dir}.tar`;
      createTar({ file: tarPath, cwd: dir, sync: true, portable: true }, fs.readdirSync(dir).sort());
      const bytes = fs.readFileSync(tarPath);
      const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      return { path: tarPath, diffId: digest, descriptor: { mediaType: MEDIA_TYPES.ociLayer, digest, size: bytes.length } };
    };
    const runtime = temp('spread-runtime');
    for (const file of nodeRuntimeFiles()) {
      fs.mkdirSync(join(runtime, file, '..'), { recursive: true });
      fs.copyFileSync(fs.realpathSync(file), join(runtime, file));
    }
    const runtimeTar = `${runtime}.tar`;
    createTar({ file: runtimeTar, cwd: runtime, sync: true, portable: true }, fs.readdirSync(runtime));
    const runtimeDigest = 'sha256:' + createHash('sha256').update(fs.readFileSync(runtimeTar)).digest('hex');
    const layers = [
      { path: runtimeTar, diffId: runtimeDigest, descriptor: { mediaType: MEDIA_TYPES.ociLayer, digest: runtimeDigest, size: fs.statSync(runtimeTar).size } },
      makeLayer('one', { 'app/a.js': 'SECRET-A-REMOVED-LATER', 'app/keep.js': 'SECRET-KEEP', 'etc/x': 'x' }),
      makeLayer('two', { 'app/.wh.a.js': '', 'app/b.js': 'SECRET-B' }),
      makeLayer('three', { 'srv/data': 'data' }),
    ];
    writeImage({ kind: 'oci', dir: layout, tag: 'native' }, {
      architecture: 'amd64', os: 'linux', config: { Entrypoint: [process.execPath, '/app/b.js'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }, layers);
    const result = await sconifyImage({ from: `oci:${layout}:native`, to: `oci:${layout}:confidential`, sessionName: 'demo/spread', serviceName: 'spread', dirs: ['/app'] });

    const manifest = JSON.parse(fs.readFileSync(join(layout, 'blobs/sha256', result.image.manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const digests = manifest.layers.map((l) => l.digest);
    expect(digests).toHaveLength(6);
    expect(digests[0]).toBe(layers[0]!.descriptor.digest);  // node: untouched
    expect(digests[1]).not.toBe(layers[1]!.descriptor.digest);  // held /app: rewritten
    expect(digests[2]).not.toBe(layers[2]!.descriptor.digest);
    expect(digests[3]).toBe(layers[3]!.descriptor.digest);  // no /app: untouched
    const texts = everyBlobText(layout).filter((b) => digests.slice(1).some((d) => b.name.startsWith(d.slice(7)))).map((b) => b.bytes.toString('latin1')).join('\n');
    for (const secret of ['SECRET-A-REMOVED-LATER', 'SECRET-KEEP', 'SECRET-B', '.wh.a.js']) expect(texts).not.toContain(secret);
    expect(texts).toContain('etc/x');

    const unpacked = temp('spread-unpacked');
    await unpackWithOurReader(`oci:${layout}:confidential`, unpacked);
    const tree = result.trees[0]!;
    const volume = await Volume.open(join(unpacked, 'app'), { key: importKey(tree.key), readOnly: true, expectedTag: tree.tag });
    try {
      expect(volume.readdir('/').sort()).toEqual(['b.js', 'keep.js']);  // a.js was whited out before it was protected
      expect((await volume.readFile('/b.js')).toString()).toBe('SECRET-B');
    } finally {
      await volume.close();
    }
    expect(fs.readFileSync(join(unpacked, 'etc/x'), 'utf8')).toBe('x');
  });

  it('refuses a --dir that is a symlink in the image, and one that is missing (never following the host\'s paths)', async () => {
    const rootfs = counterRootfs('symlinked-rootfs');
    fs.mkdirSync(join(rootfs, 'srv'));
    fs.renameSync(join(rootfs, 'app'), join(rootfs, 'srv/app'));
    fs.symlinkSync('/srv/app', join(rootfs, 'app'));
    const attempt = (dirs: string[]) => sconifyImage({ from: `dir:${rootfs}`, to: `oci:${temp('symlinked-out')}`, sessionName: 'demo/x', serviceName: 'x', command: [process.execPath, '/app/counter.cjs'], dirs });
    await expect(attempt(['/app'])).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('/app is a symlink in the image (to /srv/app): protect /srv/app instead') });
    await expect(attempt(['/nothing'])).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('/nothing does not exist in the image') });
    expect(fs.existsSync(temp('symlinked-out'))).toBe(false);
  });

  describe('refuses images that cannot run the runtime, saying why', () => {
    const headOfNode = () => {
      const fd = fs.openSync(process.execPath, 'r');
      const head = Buffer.alloc(64 << 10);
      fs.readSync(fd, head, 0, head.length, 0);
      fs.closeSync(fd);
      return head;
    };
    const version = (v: string) => {
      const [major, minor, patch] = v.split('.');
      return `#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n`;
    };
    const attempt = async (rootfs: string) => {
      const out = temp(`refused-${Math.random().toString(36).slice(2)}`);
      try {
        await sconifyImage({ from: `dir:${rootfs}`, to: `oci:${out}`, sessionName: 'demo/x', serviceName: 'x', command: ['node', '/app/counter.cjs'], dirs: ['/app'] });
      } catch (error) {
        expect(fs.existsSync(out)).toBe(false);  // nothing written
        return error as NodeJS.ErrnoException;
      }
      throw new Error('not refused');
    };

    it('no node', async () => {
      const rootfs = temp('no-node');
      fs.mkdirSync(join(rootfs, 'app'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'app/counter.cjs'), COUNTER_SOURCE);
      const error = await attempt(rootfs);
      expect(error.code).toBe('ENOTSUP');
      expect(error.message).toMatch(/has no node in its PATH/);
    });

    it('a node older than 20.19', async () => {
      const rootfs = counterRootfs('old-node');
      fs.renameSync(join(rootfs, process.execPath), join(rootfs, 'usr/bin/node.real'));
      fs.symlinkSync('node.real', join(rootfs, 'usr/bin/node'));  // found through a symlink, as in node images
      fs.mkdirSync(join(rootfs, 'usr/include/node'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'usr/include/node/node_version.h'), version('18.20.4'));
      const error = await attempt(rootfs);
      expect(error.code).toBe('ENOTSUP');
      expect(error.message).toMatch(/its node \(\/usr\/bin\/node\.real\) is version 18\.20\.4; shieldfs needs 20\.19\.0 or later/);
    });

    it('musl', async () => {
      const rootfs = temp('musl');
      const head = headOfNode();
      const interpreter = head.indexOf('/lib64/ld-linux-x86-64.so.2');
      expect(interpreter).toBeGreaterThan(0);
      head.write('/lib/ld-musl-x86_64.so.1\0', interpreter, 'latin1');
      fs.mkdirSync(join(rootfs, 'usr/local/bin'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'usr/local/bin/node'), head, { mode: 0o755 });
      fs.mkdirSync(join(rootfs, 'usr/local/include/node'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'usr/local/include/node/node_version.h'), version('22.12.0'));
      fs.mkdirSync(join(rootfs, 'app'));
      const error = await attempt(rootfs);
      expect(error.code).toBe('ENOTSUP');
      expect(error.message).toMatch(/uses the musl C library \(interpreter \/lib\/ld-musl-x86_64\.so\.1\) and shieldfs's addon is built for glibc 2\.\d+/);
    });

    it('a glibc older than the addon needs', async () => {
      const rootfs = temp('old-glibc');
      fs.mkdirSync(join(rootfs, 'usr/bin'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'usr/bin/node'), headOfNode(), { mode: 0o755 });
      fs.mkdirSync(join(rootfs, 'usr/include/node'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'usr/include/node/node_version.h'), version('22.12.0'));
      fs.mkdirSync(join(rootfs, 'lib/x86_64-linux-gnu'), { recursive: true });
      fs.writeFileSync(join(rootfs, 'lib/x86_64-linux-gnu/libc.so.6'), Buffer.from('\0GLIBC_2.2.5\0GLIBC_2.12\0GLIBC_2.17\0'));
      fs.mkdirSync(join(rootfs, 'app'));
      const error = await attempt(rootfs);
      expect(error.code).toBe('ENOTSUP');
      expect(error.message).toMatch(/its glibc is 2\.17 \(\/lib\/x86_64-linux-gnu\/libc\.so\.6\) and shieldfs's addon needs glibc 2\.\d+/);
    });
  });

  it('an interruption (SIGINT) stops it, removes the unpacked image and writes nothing', async () => {
    const work = temp('interrupted-work');
    fs.mkdirSync(work);
    const out = temp('interrupted-out');
    const child = spawn(process.execPath, [SHIELD_JS, 'sconify', '--from', native.reference, '--to', `oci:${out}`, '--name', 'demo/counter',
      '--service-name', 'counter', '--dir', '/app', '--no-upload', '--session-file', temp('interrupted.yaml')],
    { env: { ...process.env, SHIELDFS_SCONIFY_TMPDIR: work }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Interrupted while it works: once its work directory exists.
    for (let i = 0; i < 600 && fs.readdirSync(work).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readdirSync(work)).toHaveLength(1);
    child.kill('SIGINT');
    expect(await ended).toEqual({ code: null, signal: 'SIGINT' });
    expect(stderr).toMatch(/^shield: EINTR: interrupted by SIGINT: nothing was written to oci:/);
    expect(fs.readdirSync(work)).toEqual([]);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(temp('interrupted.yaml'))).toBe(false);
  });

  it('--dry-run prints what would be done and writes nothing', () => {
    const out = temp('dry');
    const result = shield(['sconify', '--from', native.reference, '--to', `oci:${out}`, '--name', 'demo/counter', '--service-name', 'counter',
      '--dir', '/app', '--volume', 'V1:/V1:ephemeral', '--no-upload', '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.out).toContain('would protect /app as a tree with a fresh key');
    expect(result.out).toContain('would declare volume V1 at /V1 (ephemeral)');
    expect(result.out).toContain(`the session's service would run: ${process.execPath} /app/counter.cjs /V1/num`);
    expect(fs.existsSync(out)).toBe(false);
    const json = shield(['sconify', '--from', native.reference, '--to', `oci:${out}`, '--name', 'demo/counter', '--service-name', 'counter',
      '--dir', '/app', '--no-upload', '--dry-run', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ dryRun: true, actions: expect.arrayContaining(['would read ' + native.reference + ': 2 layers']) });
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses bad usage before touching anything', () => {
    const base = ['sconify', '--from', native.reference, '--to', `oci:${temp('never')}`, '--name', 'demo/counter', '--service-name', 'counter', '--dir', '/app'];
    expectFailure(shield([...base, '--no-upload']), 'EINVAL', 2, /--no-upload needs --session-file/);
    expectFailure(shield(base), 'EINVAL', 2, /give --cas URL --cas-key FP/);
    // The policy service is asked before the image is touched: no identity, or no service there, ends it.
    expectFailure(shield([...base, '--cas', 'https://127.0.0.1:1', '--cas-key', CAS_KEY, '--identity', temp('no-identity.pem')]), 'ENOENT', 1, /identity file .* does not exist/);
    const identity = temp('identity.pem');
    expectSuccess(shield(['identity', 'create', '--identity', identity]));
    expectFailure(shield([...base, '--cas', 'https://127.0.0.1:1', '--cas-key', CAS_KEY, '--identity', identity]), 'ECONNREFUSED', 1, /cannot be reached/);
    expectFailure(shield([...base, '--no-upload', '--session-file', temp('s.yaml'), '--volume', 'V1:/V1:forever']), 'EINVAL', 2, /the policy must be one of/);
    expectFailure(shield([...base, '--no-upload', '--session-file', temp('s.yaml'), '--volume', 'V1:/app/data']), 'EINVAL', 2, /overlaps the protected path \/app/);
    expectFailure(shield([...base, '--no-upload', '--session-file', temp('s.yaml'), '--k8s-helm-workload-type', 'cronjob']), 'EINVAL', 2, /one of deployment, statefulset, job, daemonset/);
    expectFailure(shield([...base, '--no-upload', '--session-file', temp('s.yaml'), '--dir', '/']), 'EINVAL', 2, /the whole image cannot be a tree/);
    expect(fs.existsSync(temp('never'))).toBe(false);
  });
});
