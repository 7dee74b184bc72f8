// `memory:NAME`: tags kept in this process only, for tests. Stores of the same name share one map,
// so reopening a store in the same process sees the tags committed through the earlier one.
import {
  checkBinding, checkTag, checkVolumeId, checkVolumeName, closedStoreError, type TagStore, type VolumeBinding,
} from './tag-store.js';

interface MemoryRecords {
  tags: Map<string, string>;
  bindings: Map<string, VolumeBinding>;
}

const recordsByStoreName = new Map<string, MemoryRecords>();

export class MemoryTagStore implements TagStore {
  readonly url: string;
  readonly #tags: Map<string, string>;
  readonly #bindings: Map<string, VolumeBinding>;
  #closed = false;

  constructor(name: string) {
    this.url = `memory:${name}`;
    let records = recordsByStoreName.get(name);
    if (!records) recordsByStoreName.set(name, (records = { tags: new Map(), bindings: new Map() }));
    this.#tags = records.tags;
    this.#bindings = records.bindings;
  }

  async get(volumeId: string): Promise<string | null> {
    return this.getSync(volumeId);
  }

  async compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean> {
    return this.compareAndSetSync(volumeId, expected, next);
  }

  async getBinding(name: string): Promise<VolumeBinding | null> {
    return this.getBindingSync(name);
  }

  async bind(name: string, binding: VolumeBinding, firstTag: string | null): Promise<boolean> {
    return this.bindSync(name, binding, firstTag);
  }

  async unbind(name: string, expectedId: string): Promise<boolean> {
    return this.unbindSync(name, expectedId);
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  getSync(volumeId: string): string | null {
    checkVolumeId(volumeId);
    if (this.#closed) throw closedStoreError(this.url);
    return this.#tags.get(volumeId) ?? null;
  }

  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    if (this.#closed) throw closedStoreError(this.url);
    // Atomic because nothing between the compare and the set yields to the event loop.
    if ((this.#tags.get(volumeId) ?? null) !== expected) return false;
    this.#tags.set(volumeId, next);
    return true;
  }

  getBindingSync(name: string): VolumeBinding | null {
    checkVolumeName(name);
    if (this.#closed) throw closedStoreError(this.url);
    const binding = this.#bindings.get(name);
    return binding ? { ...binding } : null;
  }

  bindSync(name: string, binding: VolumeBinding, firstTag: string | null): boolean {
    checkVolumeName(name);
    checkBinding(binding);
    if (firstTag !== null) checkTag(firstTag, 'first tag');
    if (this.#closed) throw closedStoreError(this.url);
    if (this.#bindings.has(name) || (firstTag !== null && this.#tags.has(binding.id))) return false;
    this.#bindings.set(name, { id: binding.id, updatePolicy: binding.updatePolicy });
    if (firstTag !== null) this.#tags.set(binding.id, firstTag);
    return true;
  }

  unbindSync(name: string, expectedId: string): boolean {
    checkVolumeName(name);
    checkVolumeId(expectedId);
    if (this.#closed) throw closedStoreError(this.url);
    if (this.#bindings.get(name)?.id !== expectedId) return false;
    this.#bindings.delete(name);
    return true;
  }

  closeSync(): void {
    this.#closed = true;
  }
}
