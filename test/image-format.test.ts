// Container images read and written without Docker (lib/image): OCI layouts and docker save archives
// (legacy and Docker >= 25 forms), whiteouts and opaque directories, every digest checked, size
// limits, clear errors naming the blob, and a seeded mutation run over every parser of image bytes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { describe, expect, it } from 'vitest';
import {
  LIMITS, MEDIA_TYPES, applyLayer, extractLayer, openImage, parseConfig, parseDockerArchiveManifest, parseElf, parseImageReference, parseIndex,
  parseJsonDocument, parseManifest, parseVolumeSpec, planProtection, resolveInRootfs, rewriteLayer, scanLayer, serviceOf, writeImage,
  type ImageConfig, type LayerBlob, type SourceImage,
} from '../lib/image/index.js';
import { useTempDir } from './support/temp.js';
import { seededRandom } from './support/random.js';

const temp = useTempDir('shieldfs-image-format-');
let counter = 0;
const fresh = (name: string) => temp(`${name}-${++counter}`);

const sha = (bytes: Buffer) => 'sha256:' + createHash('sha256').update(bytes).digest('hex');

/** A layer from a map of path → content (a string, or null for a directory), plain or gzip. */
function makeLayer(files: Record<string, string | null>, gzip: boolean, order?: string[]): LayerBlob {
  const dir = fresh('layer-src');
  fs.mkdirSync(dir);
  for (const [path, content] of Object.entries(files)) {
    if (content === null) fs.mkdirSync(join(dir, path), { recursive: true });
    else {
      fs.mkdirSync(join(dir, path, '..'), { recursive: true });
      fs.writeFileSync(join(dir, path), content);
    }
  }
  const tarPath = fresh('layer') + '.tar';
  // `order`: entries in this order (files only, no recursion), to put a whiteout after what it spares.
  createTar({ file: tarPath, cwd: dir, portable: true, sync: true, ...(order ? { noDirRecurse: true } : {}) }, order ?? fs.readdirSync(dir).sort());
  const tarBytes = fs.readFileSync(tarPath);
  const blob = gzip ? gzipSync(tarBytes) : tarBytes;
  const blobPath = tarPath + (gzip ? '.gz' : '');
  fs.writeFileSync(blobPath, blob);
  return { path: blobPath, diffId: sha(tarBytes), descriptor: { mediaType: gzip ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.ociLayer, digest: sha(blob), size: blob.length } };
}

function configFor(layers: LayerBlob[], extra: Partial<ImageConfig['config']> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/app'], ...extra }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } };
}

/** A three-layer image: files, then whiteouts and an opaque directory, then a plain-tar layer. */
function threeLayers(): LayerBlob[] {
  return [
    makeLayer({ 'etc/': null, 'etc/old.conf': 'old', 'etc/keep.conf': 'keep', 'data/a': 'a', 'data/sub/b': 'b', 'app/main.js': 'v1' }, true),
    makeLayer({ 'etc/.wh.old.conf': '', 'data/.wh..wh..opq': '', 'data/c': 'c', 'app/main.js': 'v2' }, true),
    makeLayer({ 'app/extra.js': 'extra' }, false),
  ];
}

/** Unpacks every layer both ways (verify-then-extract, and the one-pass applyLayer) and checks they agree. */
async function unpackAll(image: SourceImage): Promise<string> {
  const twoPass = fresh('rootfs');
  const onePass = fresh('rootfs');
  fs.mkdirSync(twoPass);
  fs.mkdirSync(onePass);
  for (const layer of image.layers) {
    const scan = await scanLayer(layer.blobPath, layer.expected, []);
    await extractLayer(layer.blobPath, layer.expected, scan, twoPass);
    const applied = await applyLayer(layer.blobPath, layer.expected, onePass, []);
    expect(applied).toEqual(scan);
  }
  expect(treeWithContent(onePass)).toEqual(treeWithContent(twoPass));
  return onePass;
}

function treeWithContent(root: string): string[] {
  return listTree(root).map((p) => {
    const stats = fs.lstatSync(join(root, p));
    return stats.isSymbolicLink() ? `${p}->${fs.readlinkSync(join(root, p))}` : stats.isFile() ? `${p}=${fs.readFileSync(join(root, p), 'utf8')}` : p;
  });
}

/** Every path under `root`, symlinks listed but never followed (they may point anywhere on this host). */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      out.push(rel);
      if (entry.isDirectory()) walk(join(dir, entry.name), rel);
    }
  };
  walk(root, '');
  return out.sort();
}

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code ?? 'none', message: (error as Error).message };
  }
  return { code: 'no error', message: '' };
}

describe('OCI image layouts', () => {
  it('round-trips an image through the writer and reader, applying whiteouts and opaque directories', async () => {
    const layers = threeLayers();
    const layout = fresh('layout');
    const written = writeImage({ kind: 'oci', dir: layout, tag: 'v1' }, configFor(layers), layers);
    expect(JSON.parse(fs.readFileSync(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const image = await openImage(parseImageReference(`oci:${layout}:v1`, '--from'));
    expect(image.manifestDigest).toBe(written.manifestDigest);
    expect(image.layers.map((l) => l.expected.gzip)).toEqual([true, true, false]);
    const rootfs = await unpackAll(image);
    expect(listTree(rootfs)).toEqual(['app', 'app/extra.js', 'app/main.js', 'data', 'data/c', 'etc', 'etc/keep.conf']);
    expect(fs.readFileSync(join(rootfs, 'app/main.js'), 'utf8')).toBe('v2');
  });

  it('applies an opaque directory and a whiteout that come after the entries of their own layer', async () => {
    const layers = [
      makeLayer({ 'data/old': 'old', 'data/keep/x': 'x', 'etc/gone': 'g' }, true),
      makeLayer({ 'data/new': 'new', 'data/keep/y': 'y', 'data/.wh..wh..opq': '', 'etc/.wh.gone': '' }, true,
        ['data/new', 'data/keep/y', 'data/.wh..wh..opq', 'etc/.wh.gone']),
    ];
    const layout = fresh('layout');
    writeImage({ kind: 'oci', dir: layout }, configFor(layers), layers);
    const rootfs = await unpackAll(await openImage({ kind: 'oci', dir: layout }));
    expect(listTree(rootfs)).toEqual(['data', 'data/keep', 'data/keep/y', 'data/new', 'etc']);
  });

  it('keeps symlink targets as the image has them (absolute ones too) and never writes through a symlink', async () => {
    const escape = fresh('escape-target');
    fs.mkdirSync(escape);
    const build = (files: (dir: string) => string[]): LayerBlob => {
      const dir = fresh('symlink-layer');
      fs.mkdirSync(dir);
      const names = files(dir);
      const tarPath = fresh('symlink-layer') + '.tar';
      createTar({ file: tarPath, cwd: dir, sync: true }, names);
      const bytes = fs.readFileSync(tarPath);
      return { path: tarPath, diffId: sha(bytes), descriptor: { mediaType: MEDIA_TYPES.ociLayer, digest: sha(bytes), size: bytes.length } };
    };
    const layers = [
      build((dir) => {
        fs.mkdirSync(join(dir, 'usr/bin'), { recursive: true });
        fs.mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
        fs.writeFileSync(join(dir, 'usr/bin/node'), 'node');
        fs.symlinkSync('/usr/bin/node', join(dir, 'usr/local/bin/node'));
        fs.symlinkSync('usr/bin', join(dir, 'bin'));
        fs.symlinkSync(escape, join(dir, 'etc2'));
        fs.symlinkSync('../../../../../etc', join(dir, 'up'));
        fs.mkdirSync(join(dir, 'etc'));
        fs.writeFileSync(join(dir, 'etc/passwd'), 'the image\'s passwd');
        return ['usr', 'bin', 'etc', 'etc2', 'up'];
      }),
      build((dir) => {
        fs.mkdirSync(join(dir, 'etc2'));
        fs.writeFileSync(join(dir, 'etc2/pwned'), 'x');
        return ['etc2/pwned'];
      }),
    ];
    const layout = fresh('layout');
    writeImage({ kind: 'oci', dir: layout }, configFor(layers), layers);
    const rootfs = await unpackAll(await openImage({ kind: 'oci', dir: layout }));
    expect(fs.readlinkSync(join(rootfs, 'usr/local/bin/node'))).toBe('/usr/bin/node');
    expect(fs.readlinkSync(join(rootfs, 'bin'))).toBe('usr/bin');
    expect(fs.readlinkSync(join(rootfs, 'up'))).toBe('../../../../../etc');
    expect(resolveInRootfs(rootfs, '/usr/local/bin/node')).toBe('/usr/bin/node');
    expect(resolveInRootfs(rootfs, '/up/passwd')).toBe('/etc/passwd');  // clamped at the image's root, as in a container
    // The entry under the absolute symlink replaced it inside the root; nothing reached the host's directory.
    expect(fs.lstatSync(join(rootfs, 'etc2')).isDirectory()).toBe(true);
    expect(fs.readdirSync(escape)).toEqual([]);

    // Written again (nothing dropped), the symlinks are as they were.
    const rewritten = await rewriteLayer(layers[0]!.path, { blobDigest: layers[0]!.descriptor.digest, diffId: layers[0]!.diffId, gzip: false, where: 'layer 1' }, () => false, fresh('rewritten') + '.tar.gz');
    const again = fresh('rootfs-again');
    fs.mkdirSync(again);
    await applyLayer(rewritten.path, { blobDigest: rewritten.digest, diffId: rewritten.diffId, gzip: true, where: 'rewritten' }, again, []);
    expect(fs.readlinkSync(join(again, 'usr/local/bin/node'))).toBe('/usr/bin/node');
    expect(fs.readlinkSync(join(again, 'etc2'))).toBe(escape);
  });

  it('adds a second tag to an existing layout and then needs a tag to choose', async () => {
    const layout = fresh('layout');
    const a = [makeLayer({ a: 'a' }, true)];
    const b = [makeLayer({ b: 'b' }, true)];
    writeImage({ kind: 'oci', dir: layout, tag: 'a' }, configFor(a), a);
    writeImage({ kind: 'oci', dir: layout, tag: 'b' }, configFor(b), b);
    const both = await codeOf(openImage({ kind: 'oci', dir: layout }));
    expect(both.code).toBe('EINVAL');
    expect(both.message).toMatch(/2 images \(a, b\).*oci:DIR:TAG/);
    const missing = await codeOf(openImage({ kind: 'oci', dir: layout, tag: 'c' }));
    expect(missing).toMatchObject({ code: 'ENOENT' });
    expect(missing.message).toMatch(/no image tagged 'c' \(tags: a, b\)/);
    const image = await openImage({ kind: 'oci', dir: layout, tag: 'b' });
    expect(image.config.rootfs.diff_ids).toEqual([b[0]!.diffId]);
  });

  it('refuses a changed layer byte, naming the blob, and a changed manifest, config or size', async () => {
    const layers = threeLayers();
    const layout = fresh('layout');
    const written = writeImage({ kind: 'oci', dir: layout, tag: 't' }, configFor(layers), layers);
    const blobPath = (digest: string) => join(layout, 'blobs/sha256', digest.slice(7));

    // A flipped byte inside the compressed stream of layer 1: the gzip or tar breaks or the digest differs.
    const layer = blobPath(layers[0]!.descriptor.digest);
    const original = fs.readFileSync(layer);
    const changed = Buffer.from(original);
    changed[changed.length >> 1] = changed[changed.length >> 1]! ^ 0x01;
    fs.writeFileSync(layer, changed);
    const image = await openImage({ kind: 'oci', dir: layout, tag: 't' });
    const failure = await codeOf(scanLayer(image.layers[0]!.blobPath, image.layers[0]!.expected, []));
    expect(failure.code).toBe('EINTEGRITY');
    expect(failure.message).toContain(`layer 1 of 3 (blob ${layers[0]!.descriptor.digest})`);
    fs.writeFileSync(layer, original);

    // The plain layer: its blob digest is its diff id; a change of one content byte is caught.
    const plain = blobPath(layers[2]!.descriptor.digest);
    const plainBytes = fs.readFileSync(plain);
    const at = plainBytes.indexOf('extra');
    plainBytes[at] = 'E'.charCodeAt(0);
    fs.writeFileSync(plain, plainBytes);
    const plainFailure = await codeOf(scanLayer(image.layers[2]!.blobPath, image.layers[2]!.expected, []));
    expect(plainFailure.code).toBe('EINTEGRITY');
    expect(plainFailure.message).toMatch(/the blob's content has digest sha256:[0-9a-f]{64}, not sha256:/);

    // The manifest: same size, one byte changed.
    const manifest = blobPath(written.manifestDigest);
    const manifestBytes = fs.readFileSync(manifest);
    fs.writeFileSync(manifest, Buffer.from(manifestBytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')));
    const manifestFailure = await codeOf(openImage({ kind: 'oci', dir: layout, tag: 't' }));
    expect(manifestFailure.code).toBe('EINTEGRITY');
    expect(manifestFailure.message).toContain(`blob ${written.manifestDigest}: its content has digest`);
    fs.writeFileSync(manifest, manifestBytes);

    // The config grown by a byte: the size in its descriptor no longer matches.
    fs.appendFileSync(blobPath(written.configDigest), ' ');
    const sizeFailure = await codeOf(openImage({ kind: 'oci', dir: layout, tag: 't' }));
    expect(sizeFailure.code).toBe('EINTEGRITY');
    expect(sizeFailure.message).toMatch(/is \d+ bytes, its descriptor says \d+/);

    // A missing blob.
    fs.rmSync(blobPath(written.configDigest));
    const missing = await codeOf(openImage({ kind: 'oci', dir: layout, tag: 't' }));
    expect(missing.code).toBe('ENOENT');
    expect(missing.message).toContain(`blob ${written.configDigest} is missing`);
  });

  it('accepts empty layers (no bytes, or only the end-of-archive blocks), plain or gzip, and refuses garbage', async () => {
    for (const content of [Buffer.alloc(0), Buffer.alloc(1024), Buffer.alloc(10240)]) {
      for (const gzip of [false, true]) {
        const blob = gzip ? gzipSync(content) : content;
        const path = fresh('empty');
        fs.writeFileSync(path, blob);
        const expected = { blobDigest: sha(blob), diffId: sha(content), gzip, where: 'empty layer' };
        expect(await scanLayer(path, expected, [])).toMatchObject({ empty: true, entries: 0 });
        const rootfs = fresh('empty-root');
        fs.mkdirSync(rootfs);
        expect(await applyLayer(path, expected, rootfs, [])).toMatchObject({ empty: true, entries: 0 });
        expect(fs.readdirSync(rootfs)).toEqual([]);
      }
    }
    const garbage = Buffer.alloc(1024, 0x41);
    const path = fresh('garbage');
    fs.writeFileSync(path, garbage);
    const refused = await codeOf(applyLayer(path, { blobDigest: sha(garbage), diffId: sha(garbage), gzip: false, where: 'garbage layer' }, fresh('g'), []));
    expect(refused).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('garbage layer: not a readable tar archive') });
  });

  it('checks the uncompressed digest against the configuration\'s diff_id', async () => {
    const layers = [makeLayer({ a: 'a' }, true)];
    const other = makeLayer({ b: 'b' }, true);
    const layout = fresh('layout');
    writeImage({ kind: 'oci', dir: layout }, { ...configFor(layers), rootfs: { type: 'layers', diff_ids: [other.diffId] } }, layers);
    const image = await openImage({ kind: 'oci', dir: layout });
    const failure = await codeOf(scanLayer(image.layers[0]!.blobPath, image.layers[0]!.expected, []));
    expect(failure.code).toBe('EINTEGRITY');
    expect(failure.message).toContain(`not the configuration's diff_id ${other.diffId}`);
  });

  it('limits the size of every JSON document before reading it', async () => {
    const layout = fresh('layout');
    const layers = [makeLayer({ a: 'a' }, true)];
    const written = writeImage({ kind: 'oci', dir: layout }, configFor(layers), layers);
    const index = JSON.parse(fs.readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { size: number }[]; padding?: string };
    index.padding = 'x'.repeat(LIMITS.jsonDocumentBytes);
    fs.writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    expect(await codeOf(openImage({ kind: 'oci', dir: layout }))).toMatchObject({ code: 'EFBIG', message: expect.stringContaining('index.json') });
    delete index.padding;
    index.manifests[0]!.size = LIMITS.jsonDocumentBytes + 1;
    fs.writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    const big = await codeOf(openImage({ kind: 'oci', dir: layout }));
    expect(big.code).toBe('EFBIG');
    expect(big.message).toContain(written.manifestDigest);
  });

  it('refuses layers it cannot read (zstd) with a way out', async () => {
    const layout = fresh('layout');
    const layers = [makeLayer({ a: 'a' }, true)];
    layers[0]!.descriptor.mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
    writeImage({ kind: 'oci', dir: layout }, configFor(layers), layers);
    const failure = await codeOf(openImage({ kind: 'oci', dir: layout }));
    expect(failure.code).toBe('ENOTSUP');
    expect(failure.message).toMatch(/tar\+zstd is not supported.*skopeo copy --dest-compress-format gzip/);
  });
});

describe('docker save archives', () => {
  it('reads the Docker >= 25 form (an OCI layout in the tar, with manifest.json) that the writer makes', async () => {
    const layers = threeLayers();
    const file = fresh('image') + '.tar';
    writeImage({ kind: 'docker-archive', file }, configFor(layers, { WorkingDir: '/app' }), layers, 'counter:confidential');
    const image = await openImage(parseImageReference(`docker-archive:${file}`, '--from'));
    try {
      expect(image.config.config?.WorkingDir).toBe('/app');
      expect(listTree(await unpackAll(image))).toContain('data/c');
    } finally {
      image.close();
    }
  });

  it('reads the legacy form (manifest.json, <digest>.json, <id>/layer.tar) and checks the config name and the layers', async () => {
    const layers = [makeLayer({ 'bin/app': 'app' }, false), makeLayer({ 'etc/conf': 'conf' }, true)];
    const staging = fresh('legacy');
    const config = Buffer.from(JSON.stringify(configFor(layers)));
    const configName = `${sha(config).slice(7)}.json`;
    fs.mkdirSync(staging);
    fs.writeFileSync(join(staging, configName), config);
    const layerNames = layers.map((layer, i) => {
      fs.mkdirSync(join(staging, `l${i}`));
      fs.copyFileSync(layer.path, join(staging, `l${i}`, 'layer.tar'));
      return `l${i}/layer.tar`;
    });
    const writeArchive = (manifest: unknown) => {
      fs.writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest));
      const file = fresh('legacy') + '.tar';
      createTar({ file, cwd: staging, sync: true }, fs.readdirSync(staging));
      return file;
    };
    const good = writeArchive([{ Config: configName, RepoTags: ['app:1'], Layers: layerNames }]);
    const image = await openImage({ kind: 'docker-archive', file: good });
    try {
      expect(image.manifestDigest).toBeUndefined();
      expect(listTree(await unpackAll(image))).toEqual(['bin', 'bin/app', 'etc', 'etc/conf']);
    } finally {
      image.close();
    }

    // Two images: refused with their names.
    const two = writeArchive([{ Config: configName, RepoTags: ['app:1'], Layers: layerNames }, { Config: configName, RepoTags: ['app:2'], Layers: layerNames }]);
    expect(await codeOf(openImage({ kind: 'docker-archive', file: two }))).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/2 images \(app:1, app:2\)/) });

    // A layer path out of the archive.
    const outside = writeArchive([{ Config: configName, RepoTags: [], Layers: ['../etc/passwd', layerNames[1]] }]);
    expect(await codeOf(openImage({ kind: 'docker-archive', file: outside }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('outside the archive') });

    // The config changed under its digest name.
    fs.writeFileSync(join(staging, configName), Buffer.from(config.toString().replace('amd64', 'arm64')));
    const renamed = writeArchive([{ Config: configName, RepoTags: [], Layers: layerNames }]);
    expect(await codeOf(openImage({ kind: 'docker-archive', file: renamed }))).toMatchObject({ code: 'EINTEGRITY', message: expect.stringContaining(configName) });
    fs.writeFileSync(join(staging, configName), config);

    // A layer whose content is not what the config's diff_id says.
    fs.copyFileSync(makeLayer({ 'bin/app': 'APP' }, false).path, join(staging, 'l0', 'layer.tar'));
    const tampered = writeArchive([{ Config: configName, RepoTags: [], Layers: layerNames }]);
    const image2 = await openImage({ kind: 'docker-archive', file: tampered });
    try {
      const failure = await codeOf(scanLayer(image2.layers[0]!.blobPath, image2.layers[0]!.expected, []));
      expect(failure.code).toBe('EINTEGRITY');
      expect(failure.message).toContain('layer 1 of 2 (l0/layer.tar)');
    } finally {
      image2.close();
    }
  });

  it('refuses archives holding links or devices, and files that are not archives', async () => {
    const staging = fresh('links');
    fs.mkdirSync(staging);
    fs.writeFileSync(join(staging, 'manifest.json'), '[]');
    fs.symlinkSync('/etc/passwd', join(staging, 'passwd'));
    const file = fresh('links') + '.tar';
    createTar({ file, cwd: staging, sync: true }, ['manifest.json', 'passwd']);
    expect(await codeOf(openImage({ kind: 'docker-archive', file }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('passwd is a symlink to /etc/passwd, outside the archive') });
    fs.rmSync(join(staging, 'passwd'));
    fs.symlinkSync('../../outside', join(staging, 'up'));
    createTar({ file, cwd: staging, sync: true }, ['manifest.json', 'up']);
    expect(await codeOf(openImage({ kind: 'docker-archive', file }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('up is a symlink to ../../outside, outside the archive') });
    fs.rmSync(join(staging, 'up'));
    fs.writeFileSync(join(staging, 'data'), 'x');
    fs.linkSync(join(staging, 'data'), join(staging, 'hard'));
    createTar({ file, cwd: staging, sync: true }, ['manifest.json', 'data', 'hard']);
    expect(await codeOf(openImage({ kind: 'docker-archive', file }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('hard is a Link') });
    const notTar = fresh('garbage') + '.tar';
    fs.writeFileSync(notTar, Buffer.alloc(5000, 7));
    expect(await codeOf(openImage({ kind: 'docker-archive', file: notTar }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('not a readable tar archive') });
  });
});

describe('image references', () => {
  it('parses the transports and refuses others', () => {
    expect(parseImageReference('oci:/a/b:v1', '--from')).toEqual({ kind: 'oci', dir: '/a/b', tag: 'v1' });
    expect(parseImageReference('oci:/a/b', '--to')).toEqual({ kind: 'oci', dir: '/a/b' });
    expect(parseImageReference('oci:./x:8080/y', '--to')).toEqual({ kind: 'oci', dir: './x:8080/y' });
    expect(parseImageReference('docker-archive:/x.tar', '--from')).toEqual({ kind: 'docker-archive', file: '/x.tar' });
    expect(parseImageReference('dir:/rootfs', '--from')).toEqual({ kind: 'dir', rootfs: '/rootfs' });
    expect(() => parseImageReference('dir:/rootfs', '--to')).toThrow(/--to dir:\/rootfs: give oci:DIR\[:TAG\] or docker-archive:FILE/);
    expect(() => parseImageReference('docker://busybox', '--from')).toThrow(/give oci:DIR/);
    expect(() => parseImageReference('oci:/a:bad tag', '--from')).toThrow(/not a valid tag/);
  });
});

// ---------------------------------------------------------------------------------------------
// Seeded mutation: every parser of image bytes, fed mutations of valid input, either accepts it or
// throws one of our errors (a code, a message) — never a TypeError, a crash or a hang.

const OUR_CODES = new Set(['EINVAL', 'EFBIG', 'EINTEGRITY', 'ENOENT', 'ENOTSUP']);

function mutate(input: Buffer, random: () => number): Buffer {
  const bytes = Buffer.from(input);
  const kind = Math.floor(random() * 4);
  const count = 1 + Math.floor(random() * 4);
  if (kind === 0) for (let i = 0; i < count; i++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  if (kind === 1) return bytes.subarray(0, Math.floor(random() * bytes.length));
  if (kind === 2) {
    const at = Math.floor(random() * bytes.length);
    return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + Math.floor(random() * 64)), bytes.subarray(at)]);
  }
  if (kind === 3) for (let i = 0; i < count; i++) {
    const at = Math.floor(random() * bytes.length);
    bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
  }
  return bytes;
}

function expectOurError(error: unknown, context: string): void {
  const code = (error as NodeJS.ErrnoException).code;
  expect(OUR_CODES.has(code ?? ''), `${context}: ${String(error)} (code ${code})`).toBe(true);
  expect((error as Error).message.length).toBeGreaterThan(10);
}

describe('mutation run (seeded)', () => {
  const SEED = Number(process.env.SHIELDFS_FUZZ_SEED ?? 1402);

  it('JSON documents: index, manifest, config, docker manifest.json', () => {
    const layers = [makeLayer({ a: 'a' }, true)];
    const layout = fresh('layout');
    const written = writeImage({ kind: 'oci', dir: layout, tag: 'x' }, configFor(layers, { Entrypoint: ['/bin/sh'], Labels: { a: 'b' }, Volumes: { '/v': {} } }), layers);
    const docs: [Buffer, (value: unknown) => unknown][] = [
      [fs.readFileSync(join(layout, 'index.json')), (v) => parseIndex(v, 'index')],
      [fs.readFileSync(join(layout, 'blobs/sha256', written.manifestDigest.slice(7))), (v) => parseManifest(v, 'manifest')],
      [fs.readFileSync(join(layout, 'blobs/sha256', written.configDigest.slice(7))), (v) => parseConfig(v, 'config')],
      [Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['a:b'], Layers: ['l/layer.tar'] }])), (v) => parseDockerArchiveManifest(v, 'manifest.json')],
    ];
    const random = seededRandom(SEED);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const [valid, parse] = docs[i % docs.length]!;
      const input = mutate(valid, random);
      try {
        parse(parseJsonDocument(input, 'doc'));
        accepted++;
      } catch (error) {
        expectOurError(error, `seed ${SEED} iteration ${i}: ${input.toString('latin1').slice(0, 200)}`);
      }
    }
    expect(accepted).toBeGreaterThan(0);  // some mutations (inside strings) stay valid
  });

  it('layers: mutated gzip and plain tar blobs through the verifying reader', async () => {
    const random = seededRandom(SEED + 1);
    const layers = [makeLayer({ 'a/b': 'x'.repeat(3000), 'a/.wh.c': '', 'd/.wh..wh..opq': '' }, true), makeLayer({ 'e/f': 'y'.repeat(700) }, false)];
    for (let i = 0; i < 120; i++) {
      const layer = layers[i % 2]!;
      const mutated = mutate(fs.readFileSync(layer.path), random);
      const path = fresh('mutated');
      fs.writeFileSync(path, mutated);
      const expected = { blobDigest: layer.descriptor.digest, diffId: layer.diffId, gzip: i % 2 === 0, where: `mutated layer ${i}` };
      try {
        await scanLayer(path, expected, ['/a']);
        // Accepted only when the mutation left the bytes as they were (e.g. truncation to the same length).
        expect(sha(mutated)).toBe(layer.descriptor.digest);
      } catch (error) {
        expectOurError(error, `seed ${SEED + 1} iteration ${i}`);
        expect((error as Error).message).toContain(`mutated layer ${i}`);
      }
    }
  });

  it('docker archives: mutated archives through openImage', async () => {
    const random = seededRandom(SEED + 2);
    const layers = [makeLayer({ a: 'a' }, true)];
    const file = fresh('archive') + '.tar';
    writeImage({ kind: 'docker-archive', file }, configFor(layers), layers, 'x:y');
    const valid = fs.readFileSync(file);
    for (let i = 0; i < 60; i++) {
      const path = fresh('mutated') + '.tar';
      fs.writeFileSync(path, mutate(valid, random));
      try {
        const image = await openImage({ kind: 'docker-archive', file: path });
        try {
          for (const layer of image.layers) await scanLayer(layer.blobPath, layer.expected, []);
        } finally {
          image.close();
        }
      } catch (error) {
        expectOurError(error, `seed ${SEED + 2} iteration ${i}`);
      }
    }
  });

  it('ELF headers: mutated executables', () => {
    const random = seededRandom(SEED + 3);
    const fd = fs.openSync(process.execPath, 'r');
    const head = Buffer.alloc(64 << 10);
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const elf = parseElf(head, 'node');
    expect(elf.interpreter).toMatch(/ld-linux/);
    for (let i = 0; i < 3000; i++) {
      // Mutations concentrated in the headers, where the offsets are.
      const input = Buffer.from(head.subarray(0, 4096));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) input[Math.floor(random() * 512)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? input.subarray(0, Math.floor(random() * input.length)) : input;
      try {
        parseElf(cut, 'mutated');
      } catch (error) {
        expectOurError(error, `seed ${SEED + 3} iteration ${i}`);
      }
    }
  });
});

// The writer's layers, read back in gunzipped form, are the tar bytes their diff ids name.
it('writes gzip layers whose diff ids are the digests of the uncompressed tar', () => {
  const layer = makeLayer({ x: 'y' }, true);
  expect(sha(gunzipSync(fs.readFileSync(layer.path)))).toBe(layer.diffId);
});

describe('pieces of the transformation', () => {
  it('rewrites a layer without the protected paths, keeping the rest, and refuses a hard link into them', async () => {
    const layer = makeLayer({ 'app/a.js': 'A', 'app/lib/b.js': 'B', 'etc/conf': 'C', 'apple': 'not /app' }, true);
    const out = fresh('rewritten') + '.tar.gz';
    const written = await rewriteLayer(layer.path, { blobDigest: layer.descriptor.digest, diffId: layer.diffId, gzip: true, where: 'layer 1' }, (p) => p === '/app' || p.startsWith('/app/'), out);
    const listed: string[] = [];
    await scanLayer(out, { blobDigest: written.digest, diffId: written.diffId, gzip: true, where: 'rewritten' }, []).then(() => {});
    const rootfs = fresh('rewritten-root');
    fs.mkdirSync(rootfs);
    await applyLayer(out, { blobDigest: written.digest, diffId: written.diffId, gzip: true, where: 'rewritten' }, rootfs, []);
    listed.push(...listTree(rootfs));
    expect(listed).toEqual(['apple', 'etc', 'etc/conf']);

    const linkDir = fresh('links');
    fs.mkdirSync(join(linkDir, 'app'), { recursive: true });
    fs.mkdirSync(join(linkDir, 'usr'));
    fs.writeFileSync(join(linkDir, 'app/secret.js'), 'SECRET');
    fs.linkSync(join(linkDir, 'app/secret.js'), join(linkDir, 'usr/copy.js'));
    const tarPath = fresh('links') + '.tar';
    createTar({ file: tarPath, cwd: linkDir, sync: true }, ['app', 'usr']);
    const tarBytes = fs.readFileSync(tarPath);
    const failure = await codeOf(rewriteLayer(tarPath, { blobDigest: sha(tarBytes), diffId: sha(tarBytes), gzip: false, where: 'layer 2' }, (p) => p.startsWith('/app'), fresh('x')));
    expect(failure.code).toBe('ENOTSUP');
    expect(failure.message).toContain('layer 2: /usr/copy.js is a hard link to /app/secret.js');
  });

  it('plans trees and regions from --dir, --authenticated and --plain, and refuses overlaps', () => {
    expect(planProtection({ dirs: ['/app/', '/srv/model'], authenticated: ['/app/public', '/usr/lib/node'], plain: ['/app/static', '/etc'] })).toEqual({
      trees: [
        { path: '/app', regions: [{ path: '/public', kind: 'authenticated' }, { path: '/static', kind: 'not-protected' }] },
        { path: '/srv/model', regions: [] },
        { path: '/usr/lib/node', regions: [{ path: '/', kind: 'authenticated' }] },
      ],
      plainOutside: ['/etc'],
    });
    // An authenticated tree with an encrypted part inside.
    expect(planProtection({ dirs: ['/opt/x/keys'], authenticated: ['/opt/x'] }).trees).toEqual([
      { path: '/opt/x', regions: [{ path: '/', kind: 'authenticated' }, { path: '/keys', kind: 'encrypted' }] },
    ]);
    expect(() => planProtection({ dirs: ['/app'], plain: ['/app'] })).toThrow(/\/app is given twice \(--dir and --plain\)/);
    expect(() => planProtection({ dirs: ['relative'] })).toThrow(/give an absolute path/);
    expect(() => planProtection({ dirs: ['/app'], volumes: [{ name: 'V1', path: '/', updatePolicy: 'ephemeral' }] })).toThrow(/overlaps the protected path \/app/);
    expect(() => planProtection({ volumes: [{ name: 'V1', path: '/a', updatePolicy: 'ephemeral' }, { name: 'V1', path: '/b', updatePolicy: 'ephemeral' }] })).toThrow(/V1 is given twice/);
    expect(parseVolumeSpec('V1:/V1')).toEqual({ name: 'V1', path: '/V1', updatePolicy: 'rollback_protected' });
    expect(parseVolumeSpec('data:/var/data/:no_rollback_protection')).toEqual({ name: 'data', path: '/var/data', updatePolicy: 'no_rollback_protection' });
  });

  it('takes the service from the image configuration, with --command, --env, --pwd and --no-copy-env on top', () => {
    const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] },
      config: { Entrypoint: ['node'], Cmd: ['/app/a.js', '-v', '20'], Env: ['PATH=/usr/bin', 'A=1=2'], WorkingDir: '/app' } };
    expect(serviceOf(config, {})).toEqual({ command: ['node', '/app/a.js', '-v', '20'], environment: { PATH: '/usr/bin', A: '1=2' }, pwd: '/app' });
    expect(serviceOf(config, { command: ['node', 'b.js'], env: { A: 'x', B: 'y' }, pwd: '/srv' })).toEqual({ command: ['node', 'b.js'], environment: { PATH: '/usr/bin', A: 'x', B: 'y' }, pwd: '/srv' });
    expect(serviceOf(config, { copyEnv: false, env: { B: 'y' } }).environment).toEqual({ B: 'y' });
    expect(serviceOf({ ...config, config: { WorkingDir: '' , Cmd: ['x'] } }, {}).pwd).toBe('/');
    expect(() => serviceOf({ ...config, config: {} }, {})).toThrow(/no Entrypoint or Cmd: give the service's command with --command/);
    expect(() => serviceOf(config, { env: { 'A-B': '1' } })).toThrow(/not a variable name/);
  });
});
