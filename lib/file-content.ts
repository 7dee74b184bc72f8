// What a volume file handle reads and writes through: a ShieldedFile (encrypted region), an
// AuthenticatedFile (authenticated region) or a PlainFile (not-protected region). One shape, so the
// volume layer never asks which.
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
}
