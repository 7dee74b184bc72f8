// `memory:NAME`: tags kept in this process only, for tests. Stores of the same name share one map,
// so reopening a store in the same process sees the tags committed through the earlier one.
import { checkTag, checkVolumeId, closedStoreError, type TagStore } from './tag-store.js';

const tagsByStoreName = new Map<string, Map<string, string>>();

export class MemoryTagStore implements TagStore {
  readonly url: string;
  readonly #tags: Map<string, string>;
  #closed = false;

  constructor(name: string) {
    this.url = `memory:${name}`;
    let tags = tagsByStoreName.get(name);
    if (!tags) tagsByStoreName.set(name, (tags = new Map()));
    this.#tags = tags;
  }

  async get(volumeId: string): Promise<string | null> {
    return this.getSync(volumeId);
  }

  async compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean> {
    return this.compareAndSetSync(volumeId, expected, next);
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

  closeSync(): void {
    this.#closed = true;
  }
}
