// Writing an image: an OCI image layout (a new directory, or one that exists: the image is added and
// its tag moved to it), or a `docker save` archive in Docker >= 25's form (an OCI layout inside the
// tar plus the legacy manifest.json, so both old and new `docker load` and skopeo read it).
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { shieldError } from '../file/fs-errors.js';
import {
  ANNOTATION_REF_NAME, MEDIA_TYPES, digestHex, parseIndex, parseJsonDocument, parseOciLayout, sha256Digest,
  type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest,
} from './oci-format.js';
import type { ImageReference } from './read-image.js';

export interface LayerBlob {
  /** Where the blob's bytes are now. */
  path: string;
  descriptor: Descriptor;
  /** `sha256:` of the uncompressed tar: the configuration's rootfs.diff_ids entry. */
  diffId: string;
}

export interface WrittenImage {
  manifestDigest: string;
  configDigest: string;
  manifestBytes: number;
}

/** Writes `config` and `layers` as an image to `to`. `repoTag` names it in a docker archive (e.g. `counter:confidential`). */
export function writeImage(to: ImageReference, config: ImageConfig, layers: readonly LayerBlob[], repoTag?: string): WrittenImage {
  if (to.kind === 'dir') throw shieldError('EINVAL', '--to dir: is not supported: write oci:DIR[:TAG] or docker-archive:FILE');
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: MEDIA_TYPES.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: configDescriptor,
    layers: layers.map((l) => ({ mediaType: ociLayerMediaType(l.descriptor.mediaType), digest: l.descriptor.digest, size: l.descriptor.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256Digest(manifestBytes);
  const tag = to.kind === 'oci' ? to.tag : repoTag?.split(':').pop();
  const manifestDescriptor: Descriptor = {
    mediaType: MEDIA_TYPES.ociManifest, digest: manifestDigest, size: manifestBytes.length,
    ...(tag ? { annotations: { [ANNOTATION_REF_NAME]: tag } } : {}),
  };
  const blobs: { bytes?: Buffer; path?: string; digest: string }[] = [
    { bytes: configBytes, digest: configDescriptor.digest },
    { bytes: manifestBytes, digest: manifestDigest },
    ...layers.map((l) => ({ path: l.path, digest: l.descriptor.digest })),
  ];
  if (to.kind === 'oci') {
    writeLayout(to.dir, blobs, manifestDescriptor, true);
  } else {
    const staging = fs.mkdtempSync(join(tmpdir(), 'shieldfs-archive-out-'));
    try {
      writeLayout(staging, blobs, manifestDescriptor, false);
      const legacy = [{
        Config: `blobs/sha256/${digestHex(configDescriptor.digest, 'config')}`,
        RepoTags: repoTag ? [repoTag] : [],
        Layers: layers.map((l) => `blobs/sha256/${digestHex(l.descriptor.digest, 'layer')}`),
      }];
      fs.writeFileSync(join(staging, 'manifest.json'), JSON.stringify(legacy));
      const temporary = `${to.file}.tmp-${process.pid}`;
      createTar({ file: temporary, cwd: staging, portable: true, sync: true }, ['oci-layout', 'index.json', 'manifest.json', 'blobs']);
      fs.renameSync(temporary, to.file);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return { manifestDigest, configDigest: configDescriptor.digest, manifestBytes: manifestBytes.length };
}

function writeLayout(dir: string, blobs: { bytes?: Buffer; path?: string; digest: string }[], manifest: Descriptor, mayExist: boolean): void {
  fs.mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layoutFile = join(dir, 'oci-layout');
  const indexFile = join(dir, 'index.json');
  let index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };
  if (mayExist && fs.existsSync(indexFile)) {
    // Adding to an existing layout (umoci's and skopeo's behaviour): its index must be one we can read.
    parseOciLayout(parseJsonDocument(fs.readFileSync(layoutFile), `${dir}: oci-layout`), `${dir}: oci-layout`);
    index = parseIndex(parseJsonDocument(fs.readFileSync(indexFile), `${dir}: index.json`), `${dir}: index.json`);
  } else if (mayExist && fs.readdirSync(dir).some((name) => name !== 'blobs')) {
    throw shieldError('EEXIST', `${dir} exists and is not an OCI image layout (no index.json): give a new directory or a layout`, dir);
  }
  for (const blob of blobs) {
    const target = join(dir, 'blobs', 'sha256', digestHex(blob.digest, 'blob'));
    if (fs.existsSync(target)) continue;  // content-addressed: the same name is the same bytes
    const temporary = `${target}.tmp-${process.pid}`;
    if (blob.bytes) fs.writeFileSync(temporary, blob.bytes, { mode: 0o644 });
    else fs.copyFileSync(blob.path!, temporary, fs.constants.COPYFILE_FICLONE);
    fs.renameSync(temporary, target);
  }
  const tag = manifest.annotations?.[ANNOTATION_REF_NAME];
  index.manifests = [
    ...index.manifests.filter((d) => d.digest !== manifest.digest && (tag === undefined || d.annotations?.[ANNOTATION_REF_NAME] !== tag)),
    manifest,
  ];
  fs.writeFileSync(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const temporaryIndex = `${indexFile}.tmp-${process.pid}`;
  fs.writeFileSync(temporaryIndex, JSON.stringify(index));
  fs.renameSync(temporaryIndex, indexFile);
}

// Docker's layer media types name the same bytes as OCI's; an OCI manifest uses OCI's.
function ociLayerMediaType(mediaType: string): string {
  if (mediaType === MEDIA_TYPES.dockerLayerGzip) return MEDIA_TYPES.ociLayerGzip;
  if (mediaType === MEDIA_TYPES.dockerLayer) return MEDIA_TYPES.ociLayer;
  return mediaType;
}
