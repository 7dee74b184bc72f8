// One shielded file: the public face of the core. Reads and writes plaintext at any offset; on disk
// it is the chunked AES-256-GCM + Merkle tree format of FORMAT.md. Thread-safe: every call takes
// the file's mutex; a large call spreads its chunk crypto and I/O over the ParallelRunner.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto.h"
#include "file_descriptor.h"
#include "format.h"
#include "merkle_tree.h"

namespace shieldfs {

class UndoJournal;

struct OpenOptions {
  bool create = false;            // create the file when it does not exist
  bool readOnly = false;
  unsigned chunkShift = 0;        // 0: default for a new file, any for an existing one
  size_t cacheBytes = 8u << 20;   // Merkle node cache
  std::optional<Hash> expectedTag;
  std::optional<FileId> expectedFileId;  // the file's identity must be this (else EINTEGRITY)
  uint64_t keyBudget = kKeyBudget;  // chunk encryptions per chunk key (FORMAT.md); lower only in tests
  // The volume transaction's undo journal: every change to the file on disk is preserved in it first.
  std::shared_ptr<UndoJournal> journal;
};

class ShieldedFile {
 public:
  static std::unique_ptr<ShieldedFile> open(const std::string& path, const uint8_t key[kKeyBytes],
                                            const OpenOptions& options);
  ~ShieldedFile();
  ShieldedFile(const ShieldedFile&) = delete;
  ShieldedFile& operator=(const ShieldedFile&) = delete;

  size_t read(uint8_t* buffer, size_t length, uint64_t position);
  size_t write(const uint8_t* buffer, size_t length, uint64_t position);
  void truncate(uint64_t size);
  Hash flush();
  Hash close();  // flushes; later calls fail with EBADF

  uint64_t size();
  Hash tag();
  // Checks what reads never look at: every hole's chunk slot and every unstored node slot holds
  // zeros on disk, as the shield leaves them (FORMAT.md, "Merkle tree"), verifying every stored
  // node on the way. With the reads of every chunk, every byte of the file is then accounted for.
  // EINTEGRITY names the first offending slot; EBUSY when the file has changes not yet flushed.
  void verifyUnusedSlots();
  uint64_t chunkSize() const { return geometry_.chunkSize(); }
  FileId fileId() const { return fileId_; }  // fixed for the file's life: no lock needed
  uint64_t encryptions();       // under the current chunk key
  FileId keyId();               // changes when the file is re-keyed
  const std::string& path() const { return path_; }

 private:
  ShieldedFile(std::string path, const uint8_t key[kKeyBytes], const OpenOptions& options, FileDescriptor fd,
               const Header& header);
  static Header createHeader(const SecretKey& key, unsigned chunkShift, const FileId& fileId);
  void deriveChunkKey();
  GcmCipher& cipher();  // for the calling thread
  void sealHeader(Header& header) const;
  void verifyHeader(const uint8_t* block);

  void ensureOpen() const;
  void ensureWritable() const;
  size_t writeLocked(const uint8_t* buffer, size_t length, uint64_t position);
  void writeWindow(const uint8_t* buffer, uint64_t position, uint64_t end, uint64_t firstChunk, uint64_t endChunk);
  void readChunk(uint64_t chunk, uint8_t* out);  // verified plaintext of one whole chunk (holes too)
  // Reads a stored chunk from disk, then openChunk.
  void loadChunk(GcmCipher& cipher, uint64_t chunk, const ChunkEntry& entry, uint8_t* out) const;
  // Decrypts and verifies one chunk from `sealed` into `data` (may be the same); wipes `data` and
  // throws EINTEGRITY when it fails.
  void openChunk(GcmCipher& cipher, uint64_t chunk, const ChunkEntry& entry, const uint8_t* sealed,
                 uint8_t* data) const;
  void mergeEdgeChunk(uint64_t chunk, const uint8_t* buffer, uint64_t position, uint64_t end, uint8_t* out);
  Hash flushLocked();
  void rekey(uint64_t thenSealing);  // before sealing `thenSealing` more chunks
  size_t partsFor(uint64_t chunks) const;
  void buildAad(uint64_t chunk, uint8_t aad[kAadBytes]) const;
  [[noreturn]] void chunkFailure(uint64_t chunk, const std::string& why) const;

  std::mutex mutex_;
  std::string path_;
  OpenOptions options_;
  SecretKey masterKey_;
  SecretKey chunkKey_;
  SecretKey headerKey_;
  Header header_;  // what the next flush builds on; its mac is the last durable tag (tag())
  const FileId fileId_;
  Geometry geometry_;
  FileDescriptor fd_;
  FileDescriptor replaced_;   // the committed file while a re-keyed one waits at pendingPath_
  std::string pendingPath_;
  std::unique_ptr<MerkleTree> tree_;
  // One keyed cipher per runner thread (index ParallelRunner::currentWorker()), made on first use,
  // so the key schedule is computed once per file and thread, not per call.
  std::vector<std::unique_ptr<GcmCipher>> ciphers_;
  uint64_t size_ = 0;
  uint64_t encryptions_ = 0;
  bool dirty_ = false;
  bool closed_ = false;
  std::vector<ChunkEntry> entries_;    // per-call scratch
  std::vector<uint8_t> ciphertext_;    // per-call scratch for writes
  std::vector<uint8_t> edges_;         // two chunks: merged first and last chunk of a write
};

std::string toHex(const uint8_t* data, size_t len);

}  // namespace shieldfs
