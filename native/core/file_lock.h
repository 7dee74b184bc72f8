// An advisory lock (flock) on a directory or a file, held until release() or the process ends, so
// two processes (or two volumes in one process) never work on the same volume at once. The kernel
// drops it when the holder dies, so a crashed holder never blocks the next one.
#pragma once

#include <string>

#include "file_descriptor.h"

namespace shieldfs {

class FileLock {
 public:
  // Locks `path` without waiting: shared or exclusive. A directory is locked itself (a volume locks
  // its own directory: a lock file could be deleted and re-created under its holder); anything else
  // must be a regular file, created 0600 if missing. Nothing is followed: a symlink, FIFO, socket or
  // device at `path` is EINVAL, naming the path. EBUSY, naming the path, when another descriptor
  // holds a conflicting lock.
  FileLock(const std::string& path, bool exclusive);
  ~FileLock();  // releases
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  void release();  // idempotent
  bool held() const { return file_.fd() >= 0; }

 private:
  FileDescriptor file_;
};

}  // namespace shieldfs
