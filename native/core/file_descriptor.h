// A POSIX file descriptor with the whole-buffer reads and writes the core needs. Errors become
// ShieldErrors named after errno, with the path in the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shieldfs {

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

 private:
  int fd_ = -1;
  std::string path_;
};

// fsync of the directory holding `path`, so a created or renamed entry is durable.
void syncParentDirectory(const std::string& path);
void renamePath(const std::string& from, const std::string& to);

// Crash injection for tests: with SHIELDFS_CRASH_AT=<op>:<n> in the environment (op: write,
// fdatasync, ftruncate, rename or any), the process kills itself with SIGKILL just before the n-th
// such operation. Every durable step of the core goes through this file, so a test can stop it at any
// point of a write or flush. Without the variable it costs one branch.
void crashPoint(const char* op);

}  // namespace shieldfs
