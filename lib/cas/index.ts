// The cas layer: the policy and key service (our CAS) and its clients. service.ts is the state machine
// (sessions, approvals, attested release, execution limits, volume tags, the audit log), one store
// transaction per change (sqlite-store.ts embedded, etcd-store.ts replicated); server.ts puts it on
// HTTPS with its own pinned key; client.ts, instance.ts and runtime.ts are the other side (an owner's
// CLI, an instance asking for its configuration, `shield run --cas`); tag-store.ts is the `cas:` tag
// store that volumes named in a session commit through. PROTOCOL.md is the normative description.
// Uses the layers below it (file, tag-store, volume, tree, fs, attestation).
export { CasClient, checkCasLocation, type CasLocation } from './client.js';
export { createIdentity, createIdentityFile, readIdentityFile, defaultIdentityPath, type Identity } from './identity.js';
export { requestRelease, exchangeRelease, simulationEvidenceSource, type EvidenceSource, type ReleaseOptions } from './instance.js';
export { casTagStoreUrl, registerCasInstance, CasTagStore, type CasInstanceAccess } from './tag-store.js';
export { measureRuntime, type Measurement, type MeasureOptions } from './measurement.js';
export { serve, openServiceState, DEFAULT_LISTEN, type RunningService } from './server.js';
