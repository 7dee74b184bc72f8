// The JSON documents of container images (OCI image spec 1.1 and Docker's `docker save` form), parsed
// from bytes we did not write: every document has a size limit, is parsed once, and is checked field
// by field into a typed value, so the rest of lib/image never sees an unchecked `any`. Errors name the
// document (a blob's digest or a file of the archive) and the field. FORMAT.md, "Container images".
import { createHash } from 'node:crypto';
import { shieldError } from '../file/fs-errors.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const GZIP_LAYERS: ReadonlySet<string> = new Set([MEDIA_TYPES.ociLayerGzip, MEDIA_TYPES.dockerLayerGzip]);
const PLAIN_LAYERS: ReadonlySet<string> = new Set([MEDIA_TYPES.ociLayer, MEDIA_TYPES.dockerLayer]);
const INDEXES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFESTS: ReadonlySet<string> = new Set([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Limits on what is parsed: real documents are a few KiB; these stop a hostile one from exhausting memory. */
export const LIMITS = {
  /** index.json, a manifest, a docker manifest.json, the oci-layout file. */
  jsonDocumentBytes: 4 << 20,
  /** An image configuration (its history can be long). */
  configBytes: 8 << 20,
  /** Entries of an index, layers of a manifest, images of a docker manifest.json. */
  listEntries: 4096,
  /** How deep nested indexes may go. */
  indexDepth: 4,
} as const;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The part of the image configuration sconify reads and writes; other fields are kept as they are. */
export interface ImageConfigFields {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Volumes?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  [other: string]: unknown;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  config?: ImageConfigFields;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
  [other: string]: unknown;
}

/** One image of a `docker save` archive's manifest.json (legacy form; Docker >= 25 writes it beside an OCI layout too). */
export interface DockerArchiveImage {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

// ---------------------------------------------------------------------------------------------
// Digests

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The 64 hex of a `sha256:` digest; anything else (other algorithms, upper case, short) is refused. */
export function digestHex(digest: unknown, where: string): string {
  const match = typeof digest === 'string' ? DIGEST.exec(digest) : null;
  if (!match) throw malformed(where, `a digest must be sha256:<64 lowercase hex>, got ${describe(digest)}`);
  return match[1]!;
}

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function isGzipLayer(mediaType: string): boolean {
  return GZIP_LAYERS.has(mediaType);
}

export function checkLayerMediaType(mediaType: string, where: string): void {
  if (GZIP_LAYERS.has(mediaType) || PLAIN_LAYERS.has(mediaType)) return;
  throw shieldError('ENOTSUP', `${where}: layer media type ${mediaType} is not supported (tar or tar+gzip layers only; ` +
    'zstd and foreign layers are not): convert the image with `skopeo copy --dest-compress-format gzip`');
}

// ---------------------------------------------------------------------------------------------
// Parsing documents

/** Parses a JSON document of at most `limit` bytes; `where` names it in errors. */
export function parseJsonDocument(bytes: Uint8Array, where: string, limit: number = LIMITS.jsonDocumentBytes): unknown {
  if (bytes.length > limit) throw shieldError('EFBIG', `${where} is ${bytes.length} bytes, more than the ${limit} allowed for this kind of document: is it the right file?`);
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (error) {
    throw malformed(where, `not valid JSON (${(error as Error).message})`);
  }
}

export function parseOciLayout(value: unknown, where: string): void {
  const layout = object(value, where);
  if (layout.imageLayoutVersion !== '1.0.0') throw malformed(where, `imageLayoutVersion must be "1.0.0", got ${describe(layout.imageLayoutVersion)}`);
}

export function parseIndex(value: unknown, where: string): ImageIndex {
  const index = object(value, where);
  if (index.schemaVersion !== 2) throw malformed(where, `schemaVersion must be 2, got ${describe(index.schemaVersion)}`);
  if (index.mediaType !== undefined && !INDEXES.has(index.mediaType as string)) throw malformed(where, `mediaType ${describe(index.mediaType)} is not an image index`);
  const manifests = list(index.manifests, `${where}: manifests`).map((d, i) => descriptor(d, `${where}: manifests[${i}]`));
  return { schemaVersion: 2, ...(typeof index.mediaType === 'string' ? { mediaType: index.mediaType } : {}), manifests, ...optionalAnnotations(index.annotations, where) };
}

export function parseManifest(value: unknown, where: string): ImageManifest {
  const manifest = object(value, where);
  if (manifest.schemaVersion !== 2) throw malformed(where, `schemaVersion must be 2, got ${describe(manifest.schemaVersion)}`);
  if (manifest.mediaType !== undefined && !MANIFESTS.has(manifest.mediaType as string)) throw malformed(where, `mediaType ${describe(manifest.mediaType)} is not an image manifest`);
  const config = descriptor(manifest.config, `${where}: config`);
  const layers = list(manifest.layers, `${where}: layers`).map((d, i) => descriptor(d, `${where}: layers[${i}]`));
  return { schemaVersion: 2, ...(typeof manifest.mediaType === 'string' ? { mediaType: manifest.mediaType } : {}), config, layers, ...optionalAnnotations(manifest.annotations, where) };
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEXES.has(mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFESTS.has(mediaType);
}

export function parseConfig(value: unknown, where: string): ImageConfig {
  const config = object(value, where);
  for (const field of ['architecture', 'os'] as const) {
    if (typeof config[field] !== 'string') throw malformed(where, `${field} must be a string, got ${describe(config[field])}`);
  }
  const rootfs = object(config.rootfs, `${where}: rootfs`);
  if (rootfs.type !== 'layers') throw malformed(where, `rootfs.type must be "layers", got ${describe(rootfs.type)}`);
  const diffIds = list(rootfs.diff_ids, `${where}: rootfs.diff_ids`);
  diffIds.forEach((id, i) => digestHex(id, `${where}: rootfs.diff_ids[${i}]`));
  if (config.config !== undefined && config.config !== null) {
    const fields = object(config.config, `${where}: config`);
    for (const name of ['Env', 'Entrypoint', 'Cmd'] as const) {
      const v = fields[name];
      if (v !== undefined && v !== null && !(Array.isArray(v) && v.length <= LIMITS.listEntries && v.every((s) => typeof s === 'string'))) {
        throw malformed(where, `config.${name} must be a list of strings, got ${describe(v)}`);
      }
    }
    for (const name of ['WorkingDir', 'User'] as const) {
      if (fields[name] !== undefined && typeof fields[name] !== 'string') throw malformed(where, `config.${name} must be a string, got ${describe(fields[name])}`);
    }
    for (const name of ['Volumes', 'Labels', 'ExposedPorts'] as const) {
      const v = fields[name];
      if (v !== undefined && v !== null) object(v, `${where}: config.${name}`);
    }
  }
  if (config.history !== undefined) {
    const history = list(config.history, `${where}: history`);
    history.forEach((h, i) => object(h, `${where}: history[${i}]`));
  }
  return config as unknown as ImageConfig;
}

export function parseDockerArchiveManifest(value: unknown, where: string): DockerArchiveImage[] {
  return list(value, where).map((entry, i) => {
    const at = `${where}[${i}]`;
    const image = object(entry, at);
    if (typeof image.Config !== 'string') throw malformed(at, `Config must be a file name, got ${describe(image.Config)}`);
    const repoTags = image.RepoTags === null || image.RepoTags === undefined ? [] : list(image.RepoTags, `${at}: RepoTags`);
    if (!repoTags.every((t) => typeof t === 'string')) throw malformed(at, 'RepoTags must be strings');
    const layers = list(image.Layers, `${at}: Layers`);
    if (!layers.every((l) => typeof l === 'string')) throw malformed(at, 'Layers must be file names');
    return { Config: image.Config, RepoTags: repoTags as string[], Layers: layers as string[] };
  });
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = object(value, where);
  if (typeof d.mediaType !== 'string' || d.mediaType.length > 255) throw malformed(where, `mediaType must be a string, got ${describe(d.mediaType)}`);
  digestHex(d.digest, where);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw malformed(where, `size must be a byte count, got ${describe(d.size)}`);
  const result: Descriptor = { mediaType: d.mediaType, digest: d.digest as string, size: d.size, ...optionalAnnotations(d.annotations, where) };
  if (d.platform !== undefined) {
    const p = object(d.platform, `${where}: platform`);
    if (typeof p.architecture !== 'string' || typeof p.os !== 'string') throw malformed(where, 'platform needs architecture and os strings');
    result.platform = { architecture: p.architecture, os: p.os, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) };
  }
  return result;
}

function optionalAnnotations(value: unknown, where: string): { annotations?: Record<string, string> } {
  if (value === undefined || value === null) return {};
  const annotations = object(value, `${where}: annotations`);
  for (const [k, v] of Object.entries(annotations)) {
    if (typeof v !== 'string') throw malformed(where, `annotation ${k} must be a string, got ${describe(v)}`);
  }
  return { annotations: annotations as Record<string, string> };
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(where, `expected a JSON object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(where, `expected a list, got ${describe(value)}`);
  if (value.length > LIMITS.listEntries) throw malformed(where, `${value.length} entries, more than the ${LIMITS.listEntries} allowed`);
  return value;
}

export function malformed(where: string, what: string): Error {
  return shieldError('EINVAL', `${where}: ${what}: not a valid container image (make it with docker save, skopeo copy or umoci)`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? text.slice(0, 57) + '…' : text;
}
