// Opening a container image without Docker: an OCI image layout directory, a `docker save` archive
// (the legacy manifest.json form, or Docker >= 25's OCI layout inside the tar, which also carries a
// manifest.json), or a plain root file system directory. Every JSON document is size-limited and its
// digest checked when it is read; layers are checked when they are read (layer-tar.ts).
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { Unpack, type ReadEntry } from 'tar';
import { pipeline } from 'node:stream/promises';
import { shieldError } from '../file/fs-errors.js';
import {
  ANNOTATION_REF_NAME, LIMITS, checkLayerMediaType, digestHex, isGzipLayer, isIndexMediaType, isManifestMediaType, malformed,
  parseConfig, parseDockerArchiveManifest, parseIndex, parseJsonDocument, parseManifest, parseOciLayout, sha256Digest,
  type Descriptor, type ImageConfig, type ImageManifest,
} from './oci-format.js';
import type { LayerExpectation } from './layer-tar.js';

export type ImageReference =
  | { kind: 'oci'; dir: string; tag?: string }
  | { kind: 'docker-archive'; file: string }
  | { kind: 'dir'; rootfs: string };

/** One layer of a source image: where its blob is and what it must be. */
export interface SourceLayer {
  blobPath: string;
  expected: LayerExpectation;
  /** The descriptor from the manifest (OCI); legacy archives have none until the layer was read. */
  descriptor?: Descriptor;
}

export interface SourceImage {
  reference: ImageReference;
  config: ImageConfig;
  layers: SourceLayer[];
  /** The manifest's digest, when the source has one (not for dir: or a legacy archive). */
  manifestDigest?: string;
  /** Removes what opening made (a docker archive's unpacked copy). */
  close(): void;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// A docker save archive holds a few files per layer; far more means it is not one.
const MAX_ARCHIVE_ENTRIES = 100_000;
const MAX_ARCHIVE_BYTES = 64 * 2 ** 30;

/** Parses `oci:DIR[:TAG]`, `docker-archive:FILE` or `dir:ROOTFS`. */
export function parseImageReference(text: string, role: '--from' | '--to'): ImageReference {
  const colon = text.indexOf(':');
  const transport = colon < 0 ? '' : text.slice(0, colon);
  const rest = text.slice(colon + 1);
  const forms = role === '--from' ? 'oci:DIR[:TAG], docker-archive:FILE or dir:ROOTFS' : 'oci:DIR[:TAG] or docker-archive:FILE';
  if (rest === '' || !['oci', 'docker-archive', ...(role === '--from' ? ['dir'] : [])].includes(transport)) {
    throw shieldError('EINVAL', `${role} ${text}: give ${forms}`);
  }
  if (transport === 'docker-archive') return { kind: 'docker-archive', file: rest };
  if (transport === 'dir') return { kind: 'dir', rootfs: rest };
  // oci:DIR:TAG — the tag is what follows the last colon when that has no slash (DIR may hold colons).
  const cut = rest.lastIndexOf(':');
  if (cut > 0 && !rest.slice(cut + 1).includes('/')) {
    const tag = rest.slice(cut + 1);
    if (!TAG.test(tag)) throw shieldError('EINVAL', `${role} ${text}: '${tag}' is not a valid tag (letters, digits, . _ -; at most 128)`);
    return { kind: 'oci', dir: rest.slice(0, cut), tag };
  }
  return { kind: 'oci', dir: rest };
}

export function formatImageReference(reference: ImageReference): string {
  switch (reference.kind) {
    case 'oci': return `oci:${reference.dir}${reference.tag ? ':' + reference.tag : ''}`;
    case 'docker-archive': return `docker-archive:${reference.file}`;
    case 'dir': return `dir:${reference.rootfs}`;
  }
}

/** Opens a source image: reads and checks its index, manifest and configuration. Layers are read later. */
export async function openImage(reference: ImageReference, architecture = goArchitecture()): Promise<SourceImage> {
  switch (reference.kind) {
    case 'dir': {
      const stats = statOrNull(reference.rootfs);
      if (!stats?.isDirectory()) throw shieldError('ENOTDIR', `--from dir:${reference.rootfs}: not a directory`, reference.rootfs);
      // A bare root file system has no configuration: an empty one; --command etc. give the rest.
      const config: ImageConfig = { architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
      return { reference, config, layers: [], close() {} };
    }
    case 'oci':
      return { ...readOciLayout(reference.dir, reference.tag, architecture, `oci:${reference.dir}`), reference, close() {} };
    case 'docker-archive': {
      const unpacked = await unpackArchive(reference.file);
      try {
        const image = fs.existsSync(join(unpacked, 'index.json')) && fs.existsSync(join(unpacked, 'oci-layout'))
          ? readOciLayout(unpacked, undefined, architecture, reference.file)
          : readLegacyArchive(unpacked, reference.file);
        return { ...image, reference, close: () => fs.rmSync(unpacked, { recursive: true, force: true }) };
      } catch (error) {
        fs.rmSync(unpacked, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OCI image layouts

function readOciLayout(dir: string, tag: string | undefined, architecture: string, shown: string): Omit<SourceImage, 'reference' | 'close'> {
  if (!statOrNull(dir)?.isDirectory()) throw shieldError('ENOENT', `${shown}: no such directory`, dir);
  parseOciLayout(parseJsonDocument(readFileLimited(join(dir, 'oci-layout'), `${shown}: oci-layout`), `${shown}: oci-layout`), `${shown}: oci-layout`);
  const index = parseIndex(parseJsonDocument(readFileLimited(join(dir, 'index.json'), `${shown}: index.json`), `${shown}: index.json`), `${shown}: index.json`);
  const candidates = tag === undefined ? index.manifests : index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag);
  if (candidates.length === 0) {
    const tags = index.manifests.map((d) => d.annotations?.[ANNOTATION_REF_NAME]).filter((t) => t !== undefined);
    throw shieldError('ENOENT', `${shown}: ${tag === undefined ? 'the index lists no image' : `no image tagged '${tag}'`}` +
      (tags.length ? ` (tags: ${tags.join(', ')})` : ''), dir);
  }
  if (candidates.length > 1) {
    const tags = candidates.map((d) => d.annotations?.[ANNOTATION_REF_NAME] ?? d.digest);
    throw shieldError('EINVAL', `${shown}: the index lists ${candidates.length} images (${tags.join(', ')}): name one, oci:DIR:TAG`);
  }
  const manifestDescriptor = resolveToManifest(dir, candidates[0]!, architecture, shown, 0);
  const manifest = parseManifest(readBlobJson(dir, manifestDescriptor, shown), `${shown}: manifest ${manifestDescriptor.digest}`);
  const config = parseConfig(readBlobJson(dir, manifest.config, shown, LIMITS.configBytes), `${shown}: config ${manifest.config.digest}`);
  return { config, layers: layersOf(dir, manifest, config, shown), manifestDigest: manifestDescriptor.digest };
}

// An index may point at a manifest or at another index (a multi-platform image): pick this
// platform's manifest (or the only one).
function resolveToManifest(dir: string, descriptor: Descriptor, architecture: string, shown: string, depth: number): Descriptor {
  if (isManifestMediaType(descriptor.mediaType)) return descriptor;
  if (!isIndexMediaType(descriptor.mediaType)) throw malformed(`${shown}: ${descriptor.digest}`, `media type ${descriptor.mediaType} is neither an image manifest nor an index`);
  if (depth >= LIMITS.indexDepth) throw malformed(`${shown}: ${descriptor.digest}`, `indexes nested more than ${LIMITS.indexDepth} deep`);
  const index = parseIndex(readBlobJson(dir, descriptor, shown), `${shown}: index ${descriptor.digest}`);
  const linux = index.manifests.filter((d) => !d.platform || (d.platform.os === 'linux' && d.platform.architecture === architecture));
  if (linux.length !== 1) {
    const platforms = index.manifests.map((d) => d.platform ? `${d.platform.os}/${d.platform.architecture}` : 'no platform');
    throw shieldError('ENOENT', `${shown}: index ${descriptor.digest} has ${linux.length === 0 ? 'no image' : `${linux.length} images`} for linux/${architecture} ` +
      `(${platforms.join(', ')}): copy the one you want with skopeo copy --override-arch`);
  }
  return resolveToManifest(dir, linux[0]!, architecture, shown, depth + 1);
}

function layersOf(dir: string, manifest: ImageManifest, config: ImageConfig, shown: string): SourceLayer[] {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw malformed(`${shown}: manifest`, `${manifest.layers.length} layers, but the configuration lists ${diffIds.length} diff_ids`);
  }
  return manifest.layers.map((descriptor, i) => {
    const where = `${shown}: layer ${i + 1} of ${manifest.layers.length} (blob ${descriptor.digest})`;
    checkLayerMediaType(descriptor.mediaType, where);
    const blobPath = blobFile(dir, descriptor, shown);
    return { blobPath, descriptor, expected: { blobDigest: descriptor.digest, diffId: diffIds[i]!, gzip: isGzipLayer(descriptor.mediaType), where } };
  });
}

function blobFile(dir: string, descriptor: Descriptor, shown: string): string {
  const path = join(dir, 'blobs', 'sha256', digestHex(descriptor.digest, `${shown}: descriptor`));
  const stats = lstatOrNull(path);
  if (!stats) throw shieldError('ENOENT', `${shown}: blob ${descriptor.digest} is missing (${path}): the layout is incomplete; copy the image again`, path);
  if (!stats.isFile()) throw shieldError('EINVAL', `${shown}: blob ${descriptor.digest} is not a regular file`, path);
  if (stats.size !== descriptor.size) {
    throw shieldError('EINTEGRITY', `${shown}: blob ${descriptor.digest} is ${stats.size} bytes, its descriptor says ${descriptor.size}: the image is damaged or was changed`, path);
  }
  return path;
}

function readBlobJson(dir: string, descriptor: Descriptor, shown: string, limit: number = LIMITS.jsonDocumentBytes): unknown {
  const where = `${shown}: blob ${descriptor.digest}`;
  if (descriptor.size > limit) throw shieldError('EFBIG', `${where} is ${descriptor.size} bytes, more than the ${limit} allowed for a ${descriptor.mediaType}`);
  const path = blobFile(dir, descriptor, shown);
  const bytes = readFileLimited(path, where, limit);
  const actual = sha256Digest(bytes);
  if (actual !== descriptor.digest) throw shieldError('EINTEGRITY', `${where}: its content has digest ${actual}: the image is damaged or was changed`, path);
  return parseJsonDocument(bytes, where, limit);
}

// ---------------------------------------------------------------------------------------------
// docker save archives

async function unpackArchive(file: string): Promise<string> {
  const stats = statOrNull(file);
  if (!stats?.isFile()) throw shieldError('ENOENT', `docker-archive:${file}: no such file`, file);
  const dir = fs.mkdtempSync(join(tmpdir(), 'shieldfs-archive-'));
  let entries = 0;
  let bytes = 0;
  let refused: Error | null = null;
  // An archive of docker save holds regular files, directories, and (docker < 25, skopeo) relative
  // symlinks from <id>/layer.tar to a layer elsewhere in the archive. Anything else (hard links,
  // devices, a symlink leaving the archive) is refused rather than made on this host.
  const unpack = new Unpack({
    cwd: dir, strict: true, preserveOwner: false, processUmask: 0o022,
    filter: (path, entry) => {
      const type = (entry as ReadEntry).type;
      if (type === 'SymbolicLink') {
        const target = posix.normalize(posix.join(posix.dirname(posix.normalize(path)), (entry as ReadEntry).linkpath ?? ''));
        if ((entry as ReadEntry).linkpath?.startsWith('/') || target === '..' || target.startsWith('../')) {
          refused ??= shieldError('EINVAL', `docker-archive:${file}: entry ${path} is a symlink to ${(entry as ReadEntry).linkpath}, outside the archive`);
        }
        return refused === null;
      }
      bytes += (entry as ReadEntry).size ?? 0;
      if (++entries > MAX_ARCHIVE_ENTRIES) refused ??= shieldError('EFBIG', `docker-archive:${file}: more than ${MAX_ARCHIVE_ENTRIES} entries: not a docker save archive`);
      // A gzip-compressed archive (docker save | gzip) could otherwise unpack without end.
      else if (bytes > MAX_ARCHIVE_BYTES) refused ??= shieldError('EFBIG', `docker-archive:${file}: more than ${MAX_ARCHIVE_BYTES} bytes unpacked: refused (a compression bomb?)`);
      else if (type !== 'File' && type !== 'OldFile' && type !== 'Directory') refused ??= shieldError('EINVAL', `docker-archive:${file}: entry ${path} is a ${type}: a docker save archive holds files and directories only`);
      return refused === null;
    },
  });
  try {
    await pipeline(fs.createReadStream(file), unpack as unknown as NodeJS.WritableStream);
    if (refused) throw refused;
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).code?.startsWith('TAR_') || !(error as NodeJS.ErrnoException).code) {
      throw shieldError('EINVAL', `docker-archive:${file}: not a readable tar archive (${(error as Error).message}): make it with docker save`, file);
    }
    throw error;
  }
  return dir;
}

function readLegacyArchive(dir: string, shown: string): Omit<SourceImage, 'reference' | 'close'> {
  const where = `${shown}: manifest.json`;
  const images = parseDockerArchiveManifest(parseJsonDocument(readFileLimited(join(dir, 'manifest.json'), where), where), where);
  if (images.length !== 1) {
    const names = images.map((i) => i.RepoTags.join(' ') || i.Config);
    throw shieldError('EINVAL', `${where}: ${images.length} images (${names.join(', ') || 'none'}): save exactly one (docker save IMAGE)`);
  }
  const image = images[0]!;
  const configPath = archiveFile(dir, image.Config, shown);
  const configBytes = readFileLimited(configPath, `${shown}: ${image.Config}`, LIMITS.configBytes);
  // The configuration's file name is its digest (<hex>.json, or blobs/sha256/<hex> in newer archives).
  const named = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(image.Config);
  const configDigest = sha256Digest(configBytes);
  if (named && `sha256:${named[1]}` !== configDigest) {
    throw shieldError('EINTEGRITY', `${shown}: ${image.Config} has digest ${configDigest}, not the one its name says: the archive is damaged or was changed`, configPath);
  }
  const config = parseConfig(parseJsonDocument(configBytes, `${shown}: ${image.Config}`, LIMITS.configBytes), `${shown}: ${image.Config}`);
  if (config.rootfs.diff_ids.length !== image.Layers.length) {
    throw malformed(where, `${image.Layers.length} layers, but the configuration lists ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const layers = image.Layers.map((name, i): SourceLayer => ({
    blobPath: archiveFile(dir, name, shown),
    expected: { diffId: config.rootfs.diff_ids[i]!, gzip: 'sniff', where: `${shown}: layer ${i + 1} of ${image.Layers.length} (${name})` },
  }));
  return { config, layers };
}

function archiveFile(dir: string, name: string, shown: string): string {
  const normalized = posix.normalize(name);
  if (normalized.startsWith('/') || normalized === '..' || normalized.startsWith('../')) {
    throw malformed(`${shown}: manifest.json`, `${name} lies outside the archive`);
  }
  // Symlinks in the archive were checked to stay inside it when unpacked; resolved here once more.
  let path: string;
  try {
    path = fs.realpathSync(join(dir, normalized));
  } catch {
    throw shieldError('ENOENT', `${shown}: manifest.json names ${name}, which the archive does not hold`, join(dir, normalized));
  }
  const root = fs.realpathSync(dir);
  if (!path.startsWith(root + '/')) throw malformed(`${shown}: manifest.json`, `${name} leads outside the archive`);
  if (!lstatOrNull(path)?.isFile()) throw shieldError('ENOENT', `${shown}: manifest.json names ${name}, which the archive does not hold as a file`, path);
  return path;
}

// ---------------------------------------------------------------------------------------------

function readFileLimited(path: string, where: string, limit: number = LIMITS.jsonDocumentBytes): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw shieldError(code, `${where}: ${code === 'ENOENT' ? 'missing' : `cannot be read (${code})`}`, path);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size > limit) throw shieldError('EFBIG', `${where} is ${size} bytes, more than the ${limit} allowed for this kind of document`, path);
    const bytes = Buffer.alloc(size);
    let at = 0;
    while (at < size) {
      const n = fs.readSync(fd, bytes, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return bytes.subarray(0, at);
  } finally {
    fs.closeSync(fd);
  }
}

function statOrNull(path: string): fs.Stats | null {
  try {
    return fs.statSync(resolve(path));
  } catch {
    return null;
  }
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch {
    return null;
  }
}

/** The OCI/Go name of this machine's architecture (amd64, arm64, …). */
export function goArchitecture(arch: string = process.arch): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[arch] ?? arch;
}
