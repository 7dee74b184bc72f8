#include "file_descriptor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "shield_error.h"
#include "undo_journal.h"

namespace shieldfs {

namespace {

struct CrashPlan {
  std::string op;
  long at = 0;  // 0: no crash planned
  std::atomic<long> seen{0};
  CrashPlan() {
    const char* spec = std::getenv("SHIELDFS_CRASH_AT");
    const char* colon = spec ? std::strchr(spec, ':') : nullptr;
    if (!colon) return;
    op.assign(spec, colon);
    at = std::strtol(colon + 1, nullptr, 10);
  }
};

}  // namespace

void crashPoint(const char* op) {
  static CrashPlan plan;
  if (plan.at <= 0 || (plan.op != "any" && plan.op != op)) return;
  if (plan.seen.fetch_add(1) + 1 == plan.at) ::kill(::getpid(), SIGKILL);
}

FileDescriptor::FileDescriptor(FileDescriptor&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), journal_(other.journal_), identity_(other.identity_) {
  other.fd_ = -1;
  other.journal_ = nullptr;
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    journal_ = other.journal_;
    identity_ = other.identity_;
    other.fd_ = -1;
    other.journal_ = nullptr;
  }
  return *this;
}

void FileDescriptor::setJournal(UndoJournal* journal) {
  if (journal) identity_ = identity();
  journal_ = journal;
}

FileIdentity FileDescriptor::identity() const {
  if (journal_) return identity_;  // one fstat per descriptor, not one per write
  struct stat st;
  if (::fstat(fd_, &st) != 0) throw systemError(errno, "fstat", path_);
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

int FileDescriptor::openRaw(const std::string& path, int flags, unsigned mode) {
  int fd;
  do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

size_t FileDescriptor::readAt(uint8_t* buf, size_t len, uint64_t offset) const {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw systemError(errno, "read", path_);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void FileDescriptor::writeAt(const uint8_t* buf, size_t len, uint64_t offset) const {
  if (journal_) journal_->preserve(*this, offset, len);
  crashPoint("write");
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw systemError(errno, "write", path_);
    }
    done += static_cast<size_t>(n);
  }
}

uint64_t FileDescriptor::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) throw systemError(errno, "fstat", path_);
  return static_cast<uint64_t>(st.st_size);
}

unsigned FileDescriptor::mode() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) throw systemError(errno, "fstat", path_);
  return st.st_mode;
}

void FileDescriptor::truncate(uint64_t length) const {
  if (journal_) {
    // Growing preserves nothing, but the journal still learns the length to cut back to.
    const uint64_t current = size();
    journal_->preserve(*this, std::min(length, current), current > length ? current - length : 0);
  }
  crashPoint("ftruncate");
  int rc;
  do rc = ::ftruncate(fd_, static_cast<off_t>(length));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw systemError(errno, "ftruncate", path_);
}

void FileDescriptor::dataSync() const {
  crashPoint("fdatasync");
  int rc;
  do rc = ::fdatasync(fd_);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw systemError(errno, "fdatasync", path_);
}

void FileDescriptor::close() {
  if (fd_ < 0) return;
  int fd = fd_;
  fd_ = -1;
  // Linux always releases the descriptor, even when close reports an error; do not retry.
  if (::close(fd) != 0 && errno != EINTR) throw systemError(errno, "close", path_);
}

void renamePath(const std::string& from, const std::string& to) {
  crashPoint("rename");
  if (::rename(from.c_str(), to.c_str()) != 0) throw systemError(errno, "rename", from);
}

bool unlinkPath(const std::string& path) {
  crashPoint("unlink");
  if (::unlink(path.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw systemError(errno, "unlink", path);
}

void syncParentDirectory(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = FileDescriptor::openRaw(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw systemError(errno, "open", dir);
  FileDescriptor directory(fd, dir);
  int rc;
  do rc = ::fsync(fd);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw systemError(errno, "fsync", dir);
}

}  // namespace shieldfs
