// The image layer: sconify — container images read and written without Docker (OCI image layouts,
// docker save archives), made confidential: protected trees for the code, the shieldfs runtime run by
// the image's own node, and what the session needs. Uses the tree, volume and file layers.
export {
  sconifyImage, planProtection, parseVolumeSpec, serviceOf, VOLUME_POLICIES,
  type SconifyOptions, type SconifyResult, type SconifyProgress, type TreeSecret, type VolumeSpec, type VolumePolicy, type ProtectionPlan,
} from './sconify.js';
export { openImage, parseImageReference, formatImageReference, goArchitecture, type ImageReference, type SourceImage, type SourceLayer } from './read-image.js';
export { writeImage, type LayerBlob, type WrittenImage } from './write-image.js';
export { scanLayer, extractLayer, applyLayer, rewriteLayer, writeLayerBlob, imagePathOfEntry, type LayerScan, type LayerExpectation, type WrittenLayer } from './layer-tar.js';
export { parseElf, libcOfInterpreter, SymbolVersionScanner, type ElfInfo } from './elf.js';
export { checkImageRuntime, addonRequirements, resolveInRootfs, MINIMUM_NODE, type ImageRuntime, type AddonRequirements } from './runtime-check.js';
export { RUNTIME_CLI, RUNTIME_DIRECTORY, runtimeFiles } from './runtime-layer.js';
export {
  MEDIA_TYPES, LIMITS, ANNOTATION_REF_NAME, parseIndex, parseManifest, parseConfig, parseDockerArchiveManifest, parseJsonDocument, parseOciLayout, sha256Digest,
  type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest,
} from './oci-format.js';
