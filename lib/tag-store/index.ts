// The tag-store layer: where each volume's latest committed tag is kept, outside the host's reach
// (DESIGN.md §2, promise 3). One interface (tag-store.ts), three stores (memory:, file:, etcd://) and
// the factory that opens a URL (open-tag-store.ts); the etcd store also answers synchronously through
// a worker thread (etcd-sync-bridge.ts). Uses only the file layer.
export { openTagStore, defaultTagStoreUrl } from './open-tag-store.js';
export type { TagStore, VolumeBinding } from './tag-store.js';
