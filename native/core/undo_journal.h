// The undo journal of a volume transaction (FORMAT.md, "Undo journal (volumes)"). A transaction
// changes committed files in place; before a journaled file overwrites, shrinks or replaces bytes
// that existed when the transaction began, the old bytes are appended here and made durable, and
// only then is the file changed. After a crash, rollBack() puts every file back byte for byte as it
// was when the transaction began; after a commit, finish() deletes the journal.
//
// Every file of the journal goes through FileDescriptor, so SHIELDFS_CRASH_AT stops a test inside
// the journal's own writes too.
//
// The host of a volume controls its directory and may plant symlinks, hard links to files elsewhere,
// FIFOs or directories in it. Below `baseDirectory` (which, like the journal's directory when it is
// not inside it, is opened as the caller names it) nothing is followed: every path a record names is
// walked one component at a time from a directory descriptor with O_NOFOLLOW, and a file is only
// written if it is a regular file with no other name; anything else counts as missing. The journal
// itself is opened without following a symlink or blocking on a FIFO, and must be a regular file.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto.h"
#include "file_descriptor.h"
#include "format.h"

namespace shieldfs {

class UndoJournal {
 public:
  static constexpr size_t kMaxContextBytes = 4096;

  // Creates nothing yet: the journal file appears with the first begin() or preserve().
  // `context` (≤ kMaxContextBytes, else EINVAL) is stored authenticated in every transaction's header.
  UndoJournal(std::string journalPath, std::string baseDirectory, const uint8_t key[kKeyBytes],
              std::vector<uint8_t> context);
  ~UndoJournal();  // leaves an active journal on disk: the transaction was not finished
  UndoJournal(const UndoJournal&) = delete;
  UndoJournal& operator=(const UndoJournal&) = delete;

  // Starts a transaction: creates the journal file (EEXIST if one is there: recovery must run
  // first) and makes its header durable. Nothing happens while a transaction is active. The second
  // form stores `context` instead of the constructor's for this transaction; while one is active
  // it must be the context already stored (EINVAL otherwise).
  void begin();
  void begin(const std::vector<uint8_t>& context);

  // Called by a journaled FileDescriptor before it changes [offset, offset + length) of its file.
  // Thread-safe. Once it returns, the bytes of that range that existed when the transaction began
  // are durable in the journal (most calls find them there already and cost a map lookup). A file
  // that is empty when the transaction first changes it (a new one) costs nothing at all.
  void preserve(const FileDescriptor& fd, uint64_t offset, uint64_t length);
  // Before another file is renamed over `path`: keeps the current one as a hard link beside the
  // journal, durably. Nothing to keep when `path` is missing or no regular file (found from
  // `baseDirectory` without following).
  void preserveReplacement(const std::string& path);
  // Ends the transaction (it stands): deletes the journal and its backups, durably, and forgets
  // every file (also when nothing had to be preserved and the journal never began).
  void finish();
  bool active();

  // The context of the journal at `journalPath`; nullopt when there is none, or when it is shorter
  // than its header (a crash while begin() created it: no file was changed under it). A damaged
  // header, or one under another key, is EINTEGRITY; so is a journal that is not a regular file (a
  // symlink is not followed, a FIFO not waited on).
  static std::optional<std::vector<uint8_t>> readContext(const std::string& journalPath,
                                                         const uint8_t key[kKeyBytes]);
  // Restores every file the journal names to its state when the transaction began; returns the
  // context. Idempotent, also when interrupted by a crash and run again. Leaves the journal in
  // place (discard() deletes it), but removes the backups it did not rename back. A journal shorter
  // than its header restores nothing and returns an empty context. A file that is missing, or is
  // no regular file with a single name, or is reached only through a symlink, is left alone.
  static std::vector<uint8_t> rollBack(const std::string& journalPath, const std::string& baseDirectory,
                                       const uint8_t key[kKeyBytes]);
  // Deletes the journal and its backups, durably. A missing journal is fine. Removes names only: a
  // symlink as the journal goes itself, and of the entries named like backups only regular files
  // and symlinks go.
  static void discard(const std::string& journalPath);

 private:
  struct TrackedFile {
    std::string relativePath;
    uint64_t originalLength = 0;
    std::map<uint64_t, uint64_t> preserved;  // disjoint, merged intervals: start -> end
  };

  void beginLocked(const std::vector<uint8_t>& context);
  void ensureUsable() const;
  std::string relativePath(const std::string& path) const;
  // A record is laid out in recordBuffer_ by startRecord (which answers where its data goes, room
  // for `capacity` bytes), then sealed and appended by appendRecord with its actual data length.
  uint8_t* startRecord(uint8_t type, const std::string& path, uint64_t offset, uint32_t capacity);
  void appendRecord(uint32_t dataLength);
  void appendPreimages(const FileDescriptor& fd, const TrackedFile& file, uint64_t from, uint64_t to);

  const std::string journalPath_;
  const std::string baseDirectory_;
  std::vector<std::string> baseComponents_;
  bool baseAbsolute_ = false;
  SecretKey volumeKey_;
  const std::vector<uint8_t> defaultContext_;

  std::mutex mutex_;
  bool active_ = false;
  bool failed_ = false;  // an append or sync failed: the journal may not hold what it should
  std::vector<uint8_t> context_;
  FileDescriptor journal_;
  FileDescriptor journalDirectory_;  // while active: where the journal and its backups are
  SecretKey journalKey_;
  Hash lastMac_{};
  uint64_t journalLength_ = 0;
  unsigned backups_ = 0;
  std::map<FileIdentity, TrackedFile> files_;
  std::vector<uint8_t> recordBuffer_;  // previous mac ‖ record ‖ mac
};

}  // namespace shieldfs
