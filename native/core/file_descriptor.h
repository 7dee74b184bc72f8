// A POSIX file descriptor with the whole-buffer reads and writes the core needs. Errors become
// ShieldErrors named after errno, with the path in the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

namespace shieldfs {

class UndoJournal;

// Which file a descriptor is open on (st_dev, st_ino): stays the same across renames.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  bool operator<(const FileIdentity& o) const { return std::tie(device, inode) < std::tie(o.device, o.inode); }
};

class FileDescriptor {
 public:
  FileDescriptor() = default;
  FileDescriptor(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  FileDescriptor(FileDescriptor&& other) noexcept;
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  // Returns -1 and sets errno on failure instead of throwing, so callers can branch on ENOENT.
  static int openRaw(const std::string& path, int flags, unsigned mode = 0600);

  // Reads up to len bytes at offset; fewer only at end of file.
  size_t readAt(uint8_t* buf, size_t len, uint64_t offset) const;
  void writeAt(const uint8_t* buf, size_t len, uint64_t offset) const;
  uint64_t size() const;
  void truncate(uint64_t length) const;
  void dataSync() const;
  unsigned mode() const;  // st_mode: file type and permissions
  void close();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // After the file was renamed: later errors (and journal records) name it where it is now.
  void setPath(std::string path) { path_ = std::move(path); }

  // With a journal (not owned; it must outlive the descriptor's writes), every writeAt and every
  // shrinking truncate first has the journal preserve the bytes it is about to change, so a
  // volume transaction can be rolled back after a crash. The journal's own descriptor has none.
  void setJournal(UndoJournal* journal);
  FileIdentity identity() const;  // fstat, except for a journaled descriptor (taken once then)

 private:
  int fd_ = -1;
  std::string path_;
  UndoJournal* journal_ = nullptr;
  FileIdentity identity_;  // valid while journal_ is set
};

// fsync of the directory holding `path`, so a created or renamed entry is durable.
void syncParentDirectory(const std::string& path);
void renamePath(const std::string& from, const std::string& to);
// Returns false when there was nothing to remove (ENOENT).
bool unlinkPath(const std::string& path);

// Crash injection for tests: with SHIELDFS_CRASH_AT=<op>:<n> in the environment (op: write,
// fdatasync, ftruncate, rename, unlink or any), the process kills itself with SIGKILL just before the n-th
// such operation. Every durable step of the core goes through this file, so a test can stop it at any
// point of a write or flush. Without the variable it costs one branch.
void crashPoint(const char* op);

}  // namespace shieldfs
