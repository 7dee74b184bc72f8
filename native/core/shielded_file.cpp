#include "shielded_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "parallel_runner.h"
#include "shield_error.h"
#include "undo_journal.h"

namespace shieldfs {
namespace {

constexpr std::string_view kChunkKeyInfo = "shieldfs/v1 chunk key";
constexpr std::string_view kHeaderKeyInfo = "shieldfs/v1 header key";
constexpr std::string_view kKeyCheckInfo = "shieldfs/v1 key check";
constexpr uint64_t kWriteWindowBytes = 8u << 20;   // bounds the ciphertext scratch of one write
constexpr uint64_t kBytesPerPart = 64u << 10;      // smaller jobs are not worth a thread handoff
constexpr uint64_t kStagingBytes = 64u << 10;      // fits in L2: read, then decrypt while it is hot
constexpr uint64_t kPartsPerThread = 4;            // small parts let an idle thread take over a slow one's share

// Writes to one file are serialized by the kernel (the inode lock), so threads that finished
// sealing a part hand their ranges to whichever thread is writing instead of queueing on the lock;
// they go back to sealing meanwhile.
class CombinedWriter {
 public:
  explicit CombinedWriter(const FileDescriptor& fd) : fd_(fd) {}
  void submit(const uint8_t* data, size_t length, uint64_t offset) {
    std::unique_lock<std::mutex> lock(mutex_);
    pending_.push_back({data, length, offset});
    if (writing_) return;
    writing_ = true;
    while (!pending_.empty()) {
      std::vector<Range> batch;
      batch.swap(pending_);
      lock.unlock();
      try {
        for (const Range& r : batch) fd_.writeAt(r.data, r.length, r.offset);
      } catch (...) {
        lock.lock();
        writing_ = false;
        throw;
      }
      lock.lock();
    }
    writing_ = false;
  }

 private:
  struct Range {
    const uint8_t* data;
    size_t length;
    uint64_t offset;
  };
  const FileDescriptor& fd_;
  std::mutex mutex_;
  std::vector<Range> pending_;
  bool writing_ = false;
};

void deriveKeyCheck(const SecretKey& key, const FileId& checkSalt, uint8_t out[kKeyCheckBytes]) {
  hkdfSha256(key.data(), kKeyBytes, checkSalt.data(), checkSalt.size(), kKeyCheckInfo, out, kKeyCheckBytes);
}

void freshNonce(std::array<uint8_t, kNonceBytes>& nonce) {
  // All-zero is the hole marker, so it is never used as a nonce.
  do randomBytes(nonce.data(), nonce.size());
  while (nonce == std::array<uint8_t, kNonceBytes>{});
}

void freshNonces(std::vector<ChunkEntry>& entries) {
  // One CSPRNG call for a whole window: per-chunk calls cost more than the DRBG output itself.
  std::vector<uint8_t> random(entries.size() * kNonceBytes);
  randomBytes(random.data(), random.size());
  for (size_t k = 0; k < entries.size(); k++) {
    std::memcpy(entries[k].nonce.data(), random.data() + k * kNonceBytes, kNonceBytes);
    if (entries[k].nonce == std::array<uint8_t, kNonceBytes>{}) freshNonce(entries[k].nonce);
  }
}

void lockFile(const FileDescriptor& fd, bool exclusive) {
  if (::flock(fd.fd(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return;
  if (errno == EWOULDBLOCK)
    throw ShieldError("EBUSY",
                      "EBUSY: '" + fd.path() + "' is open for " + (exclusive ? "reading or writing" : "writing") +
                          " by another ShieldedFile (in this or another process); close that one first",
                      EBUSY, "open", fd.path());
  throw systemError(errno, "flock", fd.path());
}

}  // namespace

std::string toHex(const uint8_t* data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

std::unique_ptr<ShieldedFile> ShieldedFile::open(const std::string& path, const uint8_t key[kKeyBytes],
                                                 const OpenOptions& options) {
  if (options.chunkShift != 0 && (options.chunkShift < kMinChunkShift || options.chunkShift > kMaxChunkShift))
    throw ShieldError("EINVAL", "EINVAL: chunk size must be a power of two from 4 KiB to 1 MiB", EINVAL, "open", path);
  // O_NONBLOCK: a FIFO swapped in by the host must not block the open (it is refused below).
  int flags = (options.readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK;
  int raw = FileDescriptor::openRaw(path, flags);
  bool created = false;
  // A file expected to be a particular one (tag or identity) is never created in its place.
  if (raw < 0 && errno == ENOENT && options.create && !options.readOnly && !options.expectedTag &&
      !options.expectedFileId) {
    raw = FileDescriptor::openRaw(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    created = raw >= 0;
    if (raw < 0 && errno == EEXIST) raw = FileDescriptor::openRaw(path, flags);
  }
  if (raw < 0) throw systemError(errno, "open", path);
  FileDescriptor fd(raw, path);
  const unsigned mode = fd.mode();
  if (S_ISDIR(mode)) throw systemError(EISDIR, "open", path);
  if (!S_ISREG(mode))
    throw ShieldError(kIntegrity,
                      "EINTEGRITY: '" + path + "' is not a regular file (a FIFO, socket or device took its place)", 0,
                      "open", path);
  lockFile(fd, !options.readOnly);

  std::vector<uint8_t> block(kHeaderBlockBytes, 0);
  Header header;
  if (created) {
    FileId fileId;
    randomBytes(fileId.data(), fileId.size());
    header = createHeader(SecretKey(key), options.chunkShift ? options.chunkShift : kDefaultChunkShift, fileId);
  } else {
    size_t got = fd.readAt(block.data(), block.size(), 0);
    header = Header::decode(block.data(), got, path.c_str());
    if (options.chunkShift && options.chunkShift != header.chunkShift)
      throw ShieldError("EINVAL",
                        "EINVAL: '" + path + "' has chunk size " + std::to_string(1u << header.chunkShift) +
                            ", not the requested " + std::to_string(1u << options.chunkShift),
                        EINVAL, "open", path);
  }
  std::unique_ptr<ShieldedFile> file(new ShieldedFile(path, key, options, std::move(fd), header));
  if (created) {
    try {
      file->sealHeader(file->header_);
      file->header_.encode(block.data());
      file->fd_.writeAt(block.data(), block.size(), 0);
      file->fd_.dataSync();
      syncParentDirectory(path);
    } catch (...) {
      ::unlink(path.c_str());  // no half-made file left behind to fail the next open
      throw;
    }
  } else {
    file->verifyHeader(block.data());
  }
  return file;
}

ShieldedFile::ShieldedFile(std::string path, const uint8_t key[kKeyBytes], const OpenOptions& options,
                           FileDescriptor fd, const Header& header)
    : path_(std::move(path)),
      options_(options),
      masterKey_(key),
      header_(header),
      fileId_(header.fileId),
      geometry_(header.chunkShift),
      fd_(std::move(fd)) {
  fd_.setJournal(options_.journal.get());  // before anything is written, the header of a new file too
  hkdfSha256(masterKey_.data(), kKeyBytes, header_.fileId.data(), kIdBytes, kHeaderKeyInfo, headerKey_.data(),
             kKeyBytes);
  deriveChunkKey();
  // The tree and size are set from the header once it has verified (verifyHeader), or are empty
  // for a new file.
  tree_ = std::make_unique<MerkleTree>(fd_, geometry_, options_.cacheBytes);
  encryptions_ = header_.encryptions;
  edges_.resize(2 * geometry_.chunkSize());
}

ShieldedFile::~ShieldedFile() {
  if (!closed_) {
    try {
      close();
    } catch (...) {
      // A destructor cannot report; callers that care call close() and see the error.
    }
  }
}

Header ShieldedFile::createHeader(const SecretKey& key, unsigned chunkShift, const FileId& fileId) {
  Header h;
  h.chunkShift = static_cast<uint8_t>(chunkShift);
  h.fileId = fileId;
  randomBytes(h.keyId.data(), h.keyId.size());
  randomBytes(h.checkSalt.data(), h.checkSalt.size());
  deriveKeyCheck(key, h.checkSalt, h.keyCheck.data());
  return h;
}

void ShieldedFile::deriveChunkKey() {
  uint8_t salt[2 * kIdBytes];
  std::memcpy(salt, header_.fileId.data(), kIdBytes);
  std::memcpy(salt + kIdBytes, header_.keyId.data(), kIdBytes);
  hkdfSha256(masterKey_.data(), kKeyBytes, salt, sizeof salt, kChunkKeyInfo, chunkKey_.data(), kKeyBytes);
  ciphers_.clear();
  ciphers_.resize(ParallelRunner::shared().threads());
}

GcmCipher& ShieldedFile::cipher() {
  auto& slot = ciphers_[ParallelRunner::shared().currentWorker()];
  if (!slot) slot = std::make_unique<GcmCipher>(chunkKey_.data());
  return *slot;
}

void ShieldedFile::sealHeader(Header& header) const {
  randomBytes(header.sizeNonce.data(), kIdBytes);
  header.sealedSize = header.size ^ sizeMask(headerKey_.data(), header.sizeNonce);
  uint8_t bytes[kHeaderUsedBytes];
  header.encode(bytes);
  hmacSha256(headerKey_.data(), kKeyBytes, bytes, kHeaderMacOffset, header.mac.data());
}

void ShieldedFile::verifyHeader(const uint8_t* block) {
  Hash mac;
  hmacSha256(headerKey_.data(), kKeyBytes, block, kHeaderMacOffset, mac.data());
  auto corrupt = [&](const std::string& why) {
    return ShieldError(kIntegrity,
                       "EINTEGRITY: '" + path_ + "' " + why +
                           "; the file was modified outside the shield: restore it from a backup",
                       0, "open", path_);
  };
  // A header that passes its MAC was written under this key (the MAC key derives from it), so the
  // key check is only needed to tell a wrong key from damage, when the MAC fails. (Deriving it on
  // every open was a sixth of the cost of opening a small file.)
  if (!constantTimeEqual(mac.data(), header_.mac.data(), kHashBytes)) {
    std::array<uint8_t, kKeyCheckBytes> check;
    deriveKeyCheck(masterKey_, header_.checkSalt, check.data());
    if (!constantTimeEqual(check.data(), header_.keyCheck.data(), kKeyCheckBytes))
      throw ShieldError(kBadKey,
                        "EBADKEY: the key does not open '" + path_ +
                            "' (key check mismatch); open it with the key it was created with",
                        0, "open", path_);
    throw corrupt("has a header that fails its MAC");
  }
  header_.size = header_.sealedSize ^ sizeMask(headerKey_.data(), header_.sizeNonce);
  header_.checkSize(path_.c_str());
  uint64_t chunks = geometry_.chunkCount(header_.size);
  uint64_t expected = geometry_.physicalSize(chunks), actual = fd_.size();
  if (actual != expected)
    throw corrupt("is " + std::to_string(actual) + " bytes on disk but its authenticated size needs " +
                  std::to_string(expected) + " (" + (actual < expected ? "truncated" : "extended") + ")");
  tree_->reset(chunks, header_.root);
  size_ = header_.size;
  if (options_.expectedFileId && *options_.expectedFileId != header_.fileId)
    throw ShieldError(kIntegrity,
                      "EINTEGRITY: '" + path_ + "' is another file (file id " + toHex(header_.fileId.data(), kIdBytes) +
                          ", expected " + toHex(options_.expectedFileId->data(), kIdBytes) +
                          "): it was replaced by another file under the same key",
                      0, "open", path_);
  if (options_.expectedTag && !constantTimeEqual(options_.expectedTag->data(), header_.mac.data(), kHashBytes))
    throw ShieldError(kRollback,
                      "EROLLBACK: '" + path_ + "' is authentic but its tag " + toHex(header_.mac.data(), 8) +
                          "… is not the expected " + toHex(options_.expectedTag->data(), 8) +
                          "…: it is an older or forked version of the file",
                      0, "open", path_);
}

void ShieldedFile::ensureOpen() const {
  if (closed_) throw ShieldError("EBADF", "EBADF: '" + path_ + "' is closed", EBADF, "read", path_);
}

void ShieldedFile::ensureWritable() const {
  ensureOpen();
  if (options_.readOnly)
    throw ShieldError("EBADF", "EBADF: '" + path_ + "' was opened read-only", EBADF, "write", path_);
}

void ShieldedFile::buildAad(uint64_t chunk, uint8_t aad[kAadBytes]) const {
  std::memcpy(aad, header_.fileId.data(), kIdBytes);
  for (int i = 0; i < 8; i++) aad[kIdBytes + i] = static_cast<uint8_t>(chunk >> (8 * i));
}

void ShieldedFile::chunkFailure(uint64_t chunk, const std::string& why) const {
  uint64_t start = chunk << geometry_.chunkShift();
  throw ShieldError(kIntegrity,
                    "EINTEGRITY: chunk " + std::to_string(chunk) + " of '" + path_ + "' (plaintext bytes " +
                        std::to_string(start) + "-" + std::to_string(start + chunkSize() - 1) + ") " + why +
                        "; the file was modified outside the shield: restore it from a backup",
                    0, "read", path_, static_cast<int64_t>(chunk));
}

size_t ShieldedFile::partsFor(uint64_t chunks) const {
  uint64_t bytes = chunks << geometry_.chunkShift();
  uint64_t parts =
      std::min<uint64_t>({kPartsPerThread * ParallelRunner::shared().threads(), bytes / kBytesPerPart, chunks});
  return static_cast<size_t>(std::max<uint64_t>(parts, 1));
}

void ShieldedFile::openChunk(GcmCipher& cipher, uint64_t chunk, const ChunkEntry& entry, const uint8_t* sealed,
                             uint8_t* data) const {
  uint8_t aad[kAadBytes];
  buildAad(chunk, aad);
  if (!cipher.open(entry.nonce.data(), aad, kAadBytes, sealed, chunkSize(), data, entry.tag.data())) {
    wipe(data, chunkSize());
    chunkFailure(chunk, "failed authentication");
  }
  // Plaintext past the end of the file is zero (FORMAT.md); anything else was not written by us.
  const uint64_t chunkStart = chunk << geometry_.chunkShift();
  if (size_ > chunkStart && size_ < chunkStart + chunkSize() &&
      !allZero(data + (size_ - chunkStart), chunkStart + chunkSize() - size_)) {
    wipe(data, chunkSize());
    chunkFailure(chunk, "has non-zero bytes past the end of the file");
  }

}

void ShieldedFile::loadChunk(GcmCipher& cipher, uint64_t chunk, const ChunkEntry& entry, uint8_t* out) const {
  if (fd_.readAt(out, chunkSize(), geometry_.chunkOffset(chunk)) != chunkSize()) {
    wipe(out, chunkSize());
    chunkFailure(chunk, "is missing from the file (truncated)");
  }
  openChunk(cipher, chunk, entry, out, out);
}

void ShieldedFile::readChunk(uint64_t chunk, uint8_t* out) {
  ChunkEntry e = tree_->entry(chunk);
  if (e.isHole())
    std::memset(out, 0, chunkSize());
  else
    loadChunk(cipher(), chunk, e, out);
}

size_t ShieldedFile::read(uint8_t* buffer, size_t length, uint64_t position) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureOpen();
  if (length == 0 || position >= size_) return 0;
  length = static_cast<size_t>(std::min<uint64_t>(length, size_ - position));
  const uint64_t shift = geometry_.chunkShift(), C = chunkSize();
  const uint64_t end = position + length;
  const uint64_t first = position >> shift, count = ((end - 1) >> shift) - first + 1;
  entries_.resize(count);
  tree_->entries(first, count, entries_.data());

  const size_t parts = partsFor(count);
  auto readPart = [&](size_t part) {
    uint64_t a = count * part / parts, b = count * (part + 1) / parts;
    GcmCipher& cipher = this->cipher();
    // Reused across calls on each thread (process memory is trusted; the next read overwrites it).
    thread_local std::vector<uint8_t> staging;
    std::vector<uint8_t> bounce;
    auto whole = [&](uint64_t k) {
      uint64_t s = (first + k) << shift;
      return s >= position && s + C <= end && !entries_[k].isHole();
    };
    for (uint64_t k = a; k < b;) {
      const uint64_t chunk = first + k, chunkStart = chunk << shift;
      const uint64_t from = std::max(chunkStart, position), to = std::min(chunkStart + C, end);
      uint8_t* dst = buffer + (from - position);
      if (entries_[k].isHole()) {
        std::memset(dst, 0, to - from);
        k++;
        continue;
      }
      if (!whole(k)) {  // a partly requested chunk: decrypt aside, copy out the requested bytes
        bounce.resize(C);
        loadChunk(cipher, chunk, entries_[k], bounce.data());
        std::memcpy(dst, bounce.data() + (from - chunkStart), to - from);
        wipe(bounce.data(), C);
        k++;
        continue;
      }
      // A run of whole chunks that are adjacent on disk: read in cache-sized batches into a staging
      // buffer, verify and decrypt there while it is hot, then copy into the caller's buffer.
      const uint64_t offset = geometry_.chunkOffset(chunk);
      uint64_t run = 1;
      while (k + run < b && whole(k + run) && geometry_.chunkOffset(chunk + run) == offset + run * C) run++;
      for (uint64_t done = 0; done < run;) {
        const uint64_t batch = std::min(run - done, std::max<uint64_t>(1, kStagingBytes >> shift));
        if (staging.size() < batch * C) staging.resize(batch * C);
        size_t got = fd_.readAt(staging.data(), batch * C, offset + done * C);
        for (uint64_t r = done; r < done + batch; r++) {
          if (got < (r - done + 1) * C) chunkFailure(chunk + r, "is missing from the file (truncated)");
          // Decrypted in the staging buffer and copied out only once its tag has verified: the
          // caller's buffer never holds unverified plaintext, even while the call is running.
          uint8_t* plain = staging.data() + (r - done) * C;
          openChunk(cipher, chunk + r, entries_[k + r], plain, plain);
          std::memcpy(dst + r * C, plain, C);
        }
        done += batch;
      }
      k += run;
    }
  };
  try {
    ParallelRunner::shared().run(parts, readPart);
  } catch (...) {
    wipe(buffer, length);  // never hand out plaintext that did not verify
    throw;
  }
  return length;
}

size_t ShieldedFile::write(const uint8_t* buffer, size_t length, uint64_t position) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureWritable();
  return writeLocked(buffer, length, position);
}

size_t ShieldedFile::writeLocked(const uint8_t* buffer, size_t length, uint64_t position) {
  if (length == 0) return 0;
  if (position > geometry_.maxFileSize() || length > geometry_.maxFileSize() - position)
    throw ShieldError("EFBIG", "EFBIG: write past the largest file size of '" + path_ + "'", EFBIG, "write", path_);
  const uint64_t end = position + length, shift = geometry_.chunkShift();
  const uint64_t first = position >> shift, last = (end - 1) >> shift;
  const uint64_t window = std::max<uint64_t>(1, kWriteWindowBytes >> shift);
  for (uint64_t a = first; a <= last; a += window) writeWindow(buffer, position, end, a, std::min(last + 1, a + window));
  return length;
}

void ShieldedFile::mergeEdgeChunk(uint64_t chunk, const uint8_t* buffer, uint64_t position, uint64_t end,
                                  uint8_t* out) {
  const uint64_t C = chunkSize(), chunkStart = chunk << geometry_.chunkShift();
  if (chunk < tree_->chunkCount())
    readChunk(chunk, out);  // a hole reads as zeros
  else
    std::memset(out, 0, C);  // past the end: the tree grows only once the write has succeeded
  const uint64_t from = std::max(chunkStart, position), to = std::min(chunkStart + C, end);
  std::memcpy(out + (from - chunkStart), buffer + (from - position), to - from);
  // Plaintext past the end of the file is zero (FORMAT.md), so a later growth reads zeros.
  const uint64_t fileEnd = std::max(size_, end);
  if (fileEnd < chunkStart + C) std::memset(out + (fileEnd - chunkStart), 0, chunkStart + C - fileEnd);
}

void ShieldedFile::writeWindow(const uint8_t* buffer, uint64_t position, uint64_t end, uint64_t firstChunk,
                               uint64_t endChunk) {
  const uint64_t shift = geometry_.chunkShift(), C = chunkSize(), count = endChunk - firstChunk;
  if (encryptions_ + count > options_.keyBudget) rekey(count);
  tree_->loadLeaves(firstChunk, endChunk);  // a damaged leaf fails the write before anything changes

  // Chunks the write covers only partly are merged with their old content first.
  auto isWhole = [&](uint64_t chunk) { return (chunk << shift) >= position && ((chunk + 1) << shift) <= end; };
  const uint8_t* edgeSource[2] = {nullptr, nullptr};
  const uint64_t edgeChunk[2] = {firstChunk, endChunk - 1};
  for (int e = 0; e < 2; e++) {
    if (isWhole(edgeChunk[e]) || (e == 1 && edgeChunk[1] == edgeChunk[0] && edgeSource[0])) continue;
    mergeEdgeChunk(edgeChunk[e], buffer, position, end, edges_.data() + e * C);
    edgeSource[e] = edges_.data() + e * C;
  }
  auto plaintextOf = [&](uint64_t chunk) -> const uint8_t* {
    if (chunk == edgeChunk[0] && edgeSource[0]) return edgeSource[0];
    if (chunk == edgeChunk[1] && edgeSource[1]) return edgeSource[1];
    return buffer + ((chunk << shift) - position);
  };

  entries_.resize(count);
  ciphertext_.resize(count * C);
  freshNonces(entries_);
  const size_t parts = partsFor(count);
  CombinedWriter writer(fd_);
  auto sealPart = [&](size_t part) {
    uint64_t a = count * part / parts, b = count * (part + 1) / parts;
    GcmCipher& cipher = this->cipher();
    uint8_t aad[kAadBytes];
    for (uint64_t k = a; k < b; k++) {
      buildAad(firstChunk + k, aad);
      cipher.seal(entries_[k].nonce.data(), aad, kAadBytes, plaintextOf(firstChunk + k), C,
                  ciphertext_.data() + k * C, entries_[k].tag.data());
    }
    for (uint64_t k = a; k < b;) {  // write runs of chunks that are adjacent on disk
      const uint64_t offset = geometry_.chunkOffset(firstChunk + k);
      uint64_t run = 1;
      while (k + run < b && geometry_.chunkOffset(firstChunk + k + run) == offset + run * C) run++;
      writer.submit(ciphertext_.data() + k * C, run * C, offset);
      k += run;
    }
  };
  WipeOnExit wipeEdges{edges_.data(), edges_.size()};
  ParallelRunner::shared().run(parts, sealPart);

  // Only now that every chunk is on disk does the file grow: a failure above leaves size and tree
  // as they were (the chunks it overwrote in place then fail their check: FORMAT.md).
  encryptions_ += count;
  dirty_ = true;
  const uint64_t newSize = std::max(size_, std::min(end, endChunk << shift));
  try {
    if (endChunk > tree_->chunkCount()) tree_->resize(endChunk);
    tree_->setEntries(firstChunk, count, entries_.data());
  } catch (...) {
    // Size and tree must agree for the file to stay committable. Leaves were verified above, so this
    // only happens if the disk changed in the meantime: the file then keeps the grown length, with
    // holes where the entries could not be set.
    if (tree_->chunkCount() != geometry_.chunkCount(size_)) size_ = newSize;
    throw;
  }
  size_ = newSize;
}

void ShieldedFile::truncate(uint64_t newSize) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureWritable();
  if (newSize > geometry_.maxFileSize())
    throw ShieldError("EFBIG", "EFBIG: size past the largest file size of '" + path_ + "'", EFBIG, "ftruncate", path_);
  if (newSize == size_) return;
  const uint64_t shift = geometry_.chunkShift(), newChunks = geometry_.chunkCount(newSize);
  const bool shrinking = newSize < size_;
  const uint64_t tail = newSize & (chunkSize() - 1);
  if (shrinking && tail != 0 && !tree_->entry(newChunks - 1).isHole()) {
    // The new last chunk keeps `tail` bytes; re-seal it so the bytes past the new end become zero.
    // A re-key, if the budget needs one, happens first, while size and tree still agree (the
    // re-keyed file is built from them).
    if (encryptions_ + 1 > options_.keyBudget) rekey(1);
    std::vector<uint8_t> kept(chunkSize());
    WipeOnExit wipeKept{kept.data(), kept.size()};
    readChunk(newChunks - 1, kept.data());
    std::memset(kept.data() + tail, 0, chunkSize() - tail);
    writeLocked(kept.data(), chunkSize(), (newChunks - 1) << shift);  // a whole chunk: no merge
  }
  tree_->resize(newChunks);
  size_ = newSize;
  dirty_ = true;
}

Hash ShieldedFile::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureOpen();
  return flushLocked();
}

Hash ShieldedFile::flushLocked() {
  if (!dirty_) return header_.mac;
  if (tree_->chunkCount() != geometry_.chunkCount(size_))  // never commit a header that cannot open
    throw std::logic_error("shieldfs: tree and size disagree in '" + path_ + "'");
  tree_->writeDirtyNodes();
  // Growing happens before the header (its chunks and nodes must be durable first); shrinking after
  // it, so a crash in between never cuts off bytes the durable header still needs.
  const uint64_t physical = geometry_.physicalSize(tree_->chunkCount()), onDisk = fd_.size();
  if (onDisk < physical) fd_.truncate(physical);
  fd_.dataSync();  // chunks and nodes are durable before the header that references them
  Header next = header_;
  next.height = static_cast<uint8_t>(tree_->height());
  next.size = size_;
  next.encryptions = encryptions_;
  next.generation = header_.generation + 1;
  next.root = tree_->root();
  sealHeader(next);
  uint8_t bytes[kHeaderUsedBytes];
  next.encode(bytes);
  fd_.writeAt(bytes, sizeof bytes, 0);
  fd_.dataSync();
  header_ = next;
  if (onDisk > physical) {
    fd_.truncate(physical);
    fd_.dataSync();
  }
  if (!pendingPath_.empty()) {  // a re-keyed file becomes the file now (rekey())
    if (options_.journal) options_.journal->preserveReplacement(path_);
    renamePath(pendingPath_, path_);
    fd_.setPath(path_);
    syncParentDirectory(path_);
    pendingPath_.clear();
    replaced_.close();
  }
  dirty_ = false;
  return header_.mac;
}

void ShieldedFile::rekey(uint64_t thenSealing) {
  // A fresh key_id gives a fresh chunk key; every chunk is re-sealed into a new file that replaces
  // the old one atomically, so no chunk key ever passes its nonce budget (FORMAT.md). Files have at
  // most half the budget in chunks, so this only refuses with a (test-only) budget below that.
  uint64_t stored = 0;
  std::vector<ChunkEntry> batch;
  for (uint64_t first = 0; first < tree_->chunkCount(); first += batch.size()) {
    batch.resize(std::min<uint64_t>(4096, tree_->chunkCount() - first));
    tree_->entries(first, batch.size(), batch.data());
    for (const ChunkEntry& e : batch) stored += e.isHole() ? 0 : 1;
  }
  if (stored + thenSealing > options_.keyBudget)
    throw ShieldError("EFBIG",
                      "EFBIG: '" + path_ + "' has more chunks than a fresh key's budget allows; nothing was changed",
                      EFBIG, "write", path_);
  uint8_t suffix[6];
  randomBytes(suffix, sizeof suffix);
  const std::string tempPath = path_ + ".rekey-" + toHex(suffix, sizeof suffix);
  int raw = FileDescriptor::openRaw(tempPath, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (raw < 0) throw systemError(errno, "open", tempPath);
  FileDescriptor target(raw, tempPath);
  ::fchmod(target.fd(), fd_.mode() & 07777);  // best effort: keep the file's permissions
  try {
    // A new file: the journal only notes its length 0, so what it writes later costs no preimages,
    // also once it has replaced the committed file (the journal tracks files by inode).
    target.setJournal(options_.journal.get());
    Header next = header_;
    randomBytes(next.keyId.data(), kIdBytes);
    uint8_t salt[2 * kIdBytes];
    std::memcpy(salt, next.fileId.data(), kIdBytes);
    std::memcpy(salt + kIdBytes, next.keyId.data(), kIdBytes);
    SecretKey newKey;
    hkdfSha256(masterKey_.data(), kKeyBytes, salt, sizeof salt, kChunkKeyInfo, newKey.data(), kKeyBytes);
    GcmCipher newCipher(newKey.data());
    MerkleTree newTree(target, geometry_, options_.cacheBytes);
    newTree.reset(0, Hash{});
    const uint64_t chunks = tree_->chunkCount();
    newTree.resize(chunks);
    std::vector<uint8_t> plain(chunkSize());
    WipeOnExit wipePlain{plain.data(), plain.size()};
    uint8_t aad[kAadBytes];
    uint64_t sealed = 0;
    for (uint64_t chunk = 0; chunk < chunks; chunk++) {
      if (tree_->entry(chunk).isHole()) continue;
      readChunk(chunk, plain.data());
      ChunkEntry e;
      freshNonce(e.nonce);
      buildAad(chunk, aad);
      newCipher.seal(e.nonce.data(), aad, kAadBytes, plain.data(), chunkSize(), plain.data(), e.tag.data());
      target.writeAt(plain.data(), chunkSize(), geometry_.chunkOffset(chunk));
      newTree.setEntries(chunk, 1, &e);
      sealed++;
    }
    newTree.writeDirtyNodes();
    target.truncate(geometry_.physicalSize(chunks));
    next.height = static_cast<uint8_t>(newTree.height());
    next.size = size_;
    next.encryptions = sealed;
    next.generation = header_.generation + 1;
    next.root = newTree.root();
    sealHeader(next);
    std::vector<uint8_t> block(kHeaderBlockBytes, 0);
    next.encode(block.data());
    target.writeAt(block.data(), block.size(), 0);
    target.dataSync();
    lockFile(target, true);
    // The re-keyed file replaces the committed one at the next flush, not now: until then the
    // committed file stays untouched (and locked), so a crash in between loses no committed state.
    if (pendingPath_.empty())
      replaced_ = std::move(fd_);
    else
      ::unlink(pendingPath_.c_str());  // an earlier re-key that was never committed
    pendingPath_ = tempPath;
    fd_ = std::move(target);
    const Hash committedTag = header_.mac;
    header_ = next;
    header_.mac = committedTag;  // tag() reports the committed state until the flush
    chunkKey_ = newKey;
    ciphers_.clear();
    ciphers_.resize(ParallelRunner::shared().threads());
    tree_ = std::make_unique<MerkleTree>(fd_, geometry_, options_.cacheBytes);
    tree_->reset(chunks, header_.root);
    encryptions_ = sealed;
    dirty_ = true;  // the flush that commits it renames it into place
  } catch (...) {
    ::unlink(tempPath.c_str());
    throw;
  }
}

Hash ShieldedFile::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureOpen();
  Hash tag = options_.readOnly ? header_.mac : flushLocked();
  closed_ = true;
  tree_.reset();
  ciphers_.clear();
  wipe(chunkKey_.data(), kKeyBytes);
  wipe(headerKey_.data(), kKeyBytes);
  wipe(masterKey_.data(), kKeyBytes);
  fd_.close();
  return tag;
}

uint64_t ShieldedFile::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return size_;
}

void ShieldedFile::verifyUnusedSlots() {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureOpen();
  if (dirty_) {
    throw ShieldError("EBUSY", "EBUSY: '" + path_ + "' has changes that are not flushed yet; flush it before checking its unused slots",
                      EBUSY, "verify", path_);
  }
  const uint64_t C = chunkSize(), chunks = tree_->chunkCount();
  std::vector<uint8_t> slot(std::max<uint64_t>(C, kNodeBytes));
  auto requireZero = [&](uint64_t offset, size_t length, const std::string& what, int64_t chunk) {
    const size_t got = fd_.readAt(slot.data(), length, offset);  // past the end reads as the zeros it stands for
    if (!allZero(slot.data(), got)) {
      throw ShieldError(kIntegrity,
                        "EINTEGRITY: " + what + " of '" + path_ + "' at byte " + std::to_string(offset) +
                            " holds data where the shield keeps zeros; the file was modified outside the shield: restore it from a backup.",
                        0, "read", path_, chunk);
    }
  };
  constexpr uint64_t kBatch = 4096;
  std::vector<ChunkEntry> batch;
  for (uint64_t first = 0; first < chunks; first += kBatch) {
    const uint64_t count = std::min(kBatch, chunks - first);
    batch.resize(count);
    tree_->entries(first, count, batch.data());
    for (uint64_t k = 0; k < count; k++) {
      if (!batch[k].isHole()) continue;
      const uint64_t chunk = first + k;
      requireZero(geometry_.chunkOffset(chunk), C, "the slot of chunk " + std::to_string(chunk) + " (a hole)",
                  static_cast<int64_t>(chunk));
    }
  }
  tree_->forEachUnstoredNode([&](unsigned level, uint64_t index) {
    requireZero(geometry_.nodeOffset(level, index), kNodeBytes,
                "the slot of Merkle node (level " + std::to_string(level) + ", index " + std::to_string(index) + "), not stored",
                static_cast<int64_t>(index * Geometry::capacity(level)));
  });
}

Hash ShieldedFile::tag() {
  std::lock_guard<std::mutex> lock(mutex_);
  return header_.mac;
}

uint64_t ShieldedFile::encryptions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return encryptions_;
}

FileId ShieldedFile::keyId() {
  std::lock_guard<std::mutex> lock(mutex_);
  return header_.keyId;
}

}  // namespace shieldfs
