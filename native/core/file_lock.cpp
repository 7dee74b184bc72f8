#include "file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include "shield_error.h"

namespace shieldfs {

FileLock::FileLock(const std::string& path, bool exclusive) {
  int raw = FileDescriptor::openRaw(path, O_RDWR | O_CREAT, 0600);
  if (raw < 0) throw systemError(errno, "open", path);
  FileDescriptor file(raw, path);
  int rc;
  do rc = ::flock(raw, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK)
      throw ShieldError("EBUSY",
                        "EBUSY: '" + path + "' is locked by another " +
                            (exclusive ? "user" : "writer") + " (in this or another process)",
                        EBUSY, "flock", path);
    throw systemError(errno, "flock", path);
  }
  file_ = std::move(file);
}

FileLock::~FileLock() {
  try {
    release();
  } catch (...) {
    // A destructor cannot report; the kernel drops the lock with the descriptor anyway.
  }
}

void FileLock::release() {
  if (!held()) return;
  ::flock(file_.fd(), LOCK_UN);  // closing drops it too; unlocking first ends it even if the fd was dup'ed
  file_.close();
}

}  // namespace shieldfs
