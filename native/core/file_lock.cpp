#include "file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>

#include "shield_error.h"

namespace shieldfs {
namespace {

std::string kindOf(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "no regular file";
}

ShieldError notLockable(const std::string& path, const std::string& kind) {
  return ShieldError("EINVAL",
                     "EINVAL: '" + path + "' is " + kind +
                         ": a lock is taken on a directory or a regular file, never through a symbolic link",
                     EINVAL, "open", path);
}

// The directory or regular file at `path`, never followed if it is a symlink, never waited on if it
// is a FIFO; a regular file is created (0600) when nothing is there.
FileDescriptor openLockable(const std::string& path) {
  for (int attempt = 0;; attempt++) {
    int raw = FileDescriptor::openRaw(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (raw >= 0) return FileDescriptor(raw, path);
    // ENOTDIR: something else (or a symlink, under O_DIRECTORY); ELOOP: a symlink; ENOENT: nothing.
    if (errno != ENOTDIR && errno != ELOOP && errno != ENOENT) throw systemError(errno, "open", path);
    raw = FileDescriptor::openRaw(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
    if (raw >= 0) {
      FileDescriptor file(raw, path);
      const mode_t mode = file.mode();
      if (!S_ISREG(mode)) throw notLockable(path, kindOf(mode));
      return file;
    }
    const int error = errno;
    if (error == EISDIR && attempt == 0) continue;  // a directory appeared in between: lock that
    struct stat st;
    if ((error == ELOOP || error == ENXIO || error == ENODEV || error == EISDIR) && ::lstat(path.c_str(), &st) == 0 &&
        !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
      throw notLockable(path, kindOf(st.st_mode));
    throw systemError(error, "open", path);
  }
}

}  // namespace

FileLock::FileLock(const std::string& path, bool exclusive) {
  FileDescriptor file = openLockable(path);
  int rc;
  do rc = ::flock(file.fd(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
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
