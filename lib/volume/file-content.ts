// What a volume file handle reads and writes through: a ShieldedFile (encrypted region), an
// AuthenticatedFile (authenticated region) or a PlainFile (not-protected region). One shape, so the
// volume layer never asks which.
import gensync from 'gensync';

export interface FileContent {
  readonly size: number;
  /** Tag of the last flushed state (64 hex); a PlainFile has none (''). */
  readonly tag: string;
  read(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number>;
  readSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number;
  write(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number>;
  writeSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number;
  truncate(length?: number): Promise<void>;
  truncateSync(length?: number): void;
  flush(): Promise<string>;
  flushSync(): string;
  close(): Promise<string>;
  closeSync(): string;
  /** Contents with bytes on disk that reads never look at check them (ShieldedFile.verifyUnusedSlotsSync). */
  verifyUnusedSlotsSync?(): void;
}

// The steps of a content, for operations written once for both ways (file/sync-or-async.ts).
export const readContent = gensync({
  sync: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.readSync(buffer, offset, length, position),
  async: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.read(buffer, offset, length, position),
});

export const writeContent = gensync({
  sync: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.writeSync(buffer, offset, length, position),
  async: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.write(buffer, offset, length, position),
});

export const flushContent = gensync({
  sync: (content: FileContent) => content.flushSync(),
  async: (content: FileContent) => content.flush(),
});

export const closeContent = gensync({
  sync: (content: FileContent) => content.closeSync(),
  async: (content: FileContent) => content.close(),
});
