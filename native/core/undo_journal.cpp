#include "undo_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>

#include "shield_error.h"

namespace shieldfs {
namespace {

constexpr uint8_t kMagic[8] = {'S', 'H', 'L', 'D', 'J', 'R', 'N', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kFixedHeaderBytes = 8 + 4 + kSaltBytes + 4;  // magic, version, salt, context length
constexpr std::string_view kJournalKeyInfo = "shieldfs undo journal v1";

enum RecordType : uint8_t { kOriginalLength = 1, kPreimage = 2, kReplaced = 3 };
constexpr size_t kRecordHeadBytes = 1 + 2;  // type, path length
constexpr size_t kRecordMidBytes = 8 + 4;   // offset, data length (after the path)
constexpr size_t kMaxPathBytes = 4096;
constexpr uint32_t kMaxPreimageBytes = 1u << 20;
constexpr size_t kMaxBackupNameBytes = 255;
constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());

void putU16(uint8_t* p, uint16_t v) {
  for (int i = 0; i < 2; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t getU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t getU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
uint64_t getU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

// The components of a path, lexically: empty and "." components go. ".." is refused (nullopt): it
// could lead out of the directory, and whether it does depends on symlinks, not on the text.
std::optional<std::vector<std::string>> splitPath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return std::nullopt;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(start, slash - start);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = slash + 1;
  }
  return parts;
}

// A path as records store it: relative, components neither empty nor "." nor "..", no NUL.
bool isRecordPath(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) return false;
    start = slash + 1;
  }
  return true;
}

std::string directoryOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::string nameOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string backupPrefix(const std::string& journalPath) { return nameOf(journalPath) + ".backup-"; }

// Backups live beside the journal and are named after it, followed by a decimal number, so a record
// can name nothing else.
bool isBackupName(std::string_view name, const std::string& journalPath) {
  const std::string prefix = backupPrefix(journalPath);
  if (name.size() <= prefix.size() || name.size() > kMaxBackupNameBytes || name.substr(0, prefix.size()) != prefix)
    return false;
  return std::all_of(name.begin() + prefix.size(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------------------------------------
// Paths inside the volume directory, which its host controls: it may put a symlink, a hard link to
// another file, a FIFO or a directory in place of any file or directory. Below the volume directory
// nothing is followed: every component is opened from the descriptor of the one before it with
// O_NOFOLLOW, and what turns out not to be a directory (or, at the end, a regular file with no
// other name) counts as missing.
// ---------------------------------------------------------------------------------------------

int openAt(int directory, const char* name, int flags, mode_t mode = 0) {
  int fd;
  do fd = ::openat(directory, name, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// What opening without following finds where a directory or file should be, when it is not one:
// nothing (ENOENT), a symlink (ELOOP; ENOTDIR under O_DIRECTORY), a file on the way (ENOTDIR), a
// directory (EISDIR) or a FIFO without a reader (ENXIO).
bool isNotThere(int error) {
  return error == ENOENT || error == ENOTDIR || error == ELOOP || error == EISDIR || error == ENXIO;
}

// A regular file with no other name: writing to it changes no file outside the volume.
bool isPlainFile(const struct stat& st) { return S_ISREG(st.st_mode) && st.st_nlink == 1; }

FileDescriptor openDirectory(const std::string& path) {
  int raw = FileDescriptor::openRaw(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
  if (raw < 0) throw systemError(errno, "open", path);
  return FileDescriptor(raw, path);
}

// The directory `name` in `parent`, not followed if it is a symlink; an empty descriptor (fd() < 0)
// and `error` set when it is not there (isNotThere).
FileDescriptor openSubdirectory(const FileDescriptor& parent, const std::string& name, int& error) {
  const std::string path = parent.path() + "/" + name;
  int raw = openAt(parent.fd(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
  if (raw < 0) {
    error = errno;
    if (!isNotThere(error)) throw systemError(error, "open", path);
    return FileDescriptor();
  }
  return FileDescriptor(raw, path);
}

void syncDirectory(const FileDescriptor& directory) {
  int rc;
  do rc = ::fsync(directory.fd());
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw systemError(errno, "fsync", directory.path());
}

// Where the journal's directory is: walked from `baseDirectory` without following when it lies
// inside it (as the volume's does: it is the volume's own directory), else opened as the caller
// named it.
FileDescriptor openJournalDirectory(const std::string& journalPath, const std::string& baseDirectory) {
  const std::string directory = directoryOf(journalPath);
  auto parts = splitPath(directory);
  auto baseParts = splitPath(baseDirectory);
  const bool inside = parts && baseParts && !baseDirectory.empty() &&
                      (directory.front() == '/') == (baseDirectory.front() == '/') &&
                      parts->size() >= baseParts->size() &&
                      std::equal(baseParts->begin(), baseParts->end(), parts->begin());
  if (!inside) return openDirectory(directory);
  FileDescriptor current = openDirectory(baseDirectory);
  for (size_t i = baseParts->size(); i < parts->size(); i++) {
    int error = 0;
    FileDescriptor next = openSubdirectory(current, (*parts)[i], error);
    if (next.fd() < 0) throw systemError(error, "open", directory);
    current = std::move(next);
  }
  return current;
}

// Removes what is left of the backups of the journal `journalName` in `directory`: only entries
// named exactly like a backup, and only regular files and symlinks (a link goes, never what it
// names); anything else is not the journal's and stays. True when one was removed.
bool removeBackups(const FileDescriptor& directory, const std::string& journalName) {
  // A descriptor of its own: readdir moves the offset, which `directory` shares with its duplicates.
  int raw = openAt(directory.fd(), ".", O_RDONLY | O_DIRECTORY);
  if (raw < 0) throw systemError(errno, "open", directory.path());
  DIR* listing = ::fdopendir(raw);
  if (!listing) {
    const int error = errno;
    ::close(raw);
    throw systemError(error, "opendir", directory.path());
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(listing)) {
    if (isBackupName(entry->d_name, journalName)) names.emplace_back(entry->d_name);
  }
  const int error = errno;
  ::closedir(listing);
  if (error != 0) throw systemError(error, "readdir", directory.path());
  bool removed = false;
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(directory.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      throw systemError(errno, "stat", directory.path() + "/" + name);
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue;
    crashPoint("unlink");
    if (::unlinkat(directory.fd(), name.c_str(), 0) != 0) {
      if (errno == ENOENT) continue;
      throw systemError(errno, "unlink", directory.path() + "/" + name);
    }
    removed = true;
  }
  return removed;
}

// The journal's directory as discard() (which knows no volume directory) finds it: as the caller
// named it; nullopt when it does not exist.
std::optional<FileDescriptor> openJournalDirectoryAsNamed(const std::string& journalPath) {
  const std::string directory = directoryOf(journalPath);
  int raw = FileDescriptor::openRaw(directory, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
  if (raw < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw systemError(errno, "open", directory);
  }
  return FileDescriptor(raw, directory);
}

void deriveJournalKey(const uint8_t volumeKey[kKeyBytes], const uint8_t salt[kSaltBytes], SecretKey& out) {
  hkdfSha256(volumeKey, kKeyBytes, salt, kSaltBytes, kJournalKeyInfo, out.data(), kKeyBytes);
}

ShieldError damaged(const std::string& journalPath, const std::string& why) {
  return ShieldError(kIntegrity,
                     "EINTEGRITY: undo journal '" + journalPath + "' is damaged (" + why +
                         "); the transaction it protects cannot be rolled back: restore the volume from a backup",
                     0, "open", journalPath);
}

struct JournalHeader {
  std::vector<uint8_t> context;
  Hash mac{};
  uint64_t length = 0;  // where the first record starts
  SecretKey key;        // the journal key
};

// nullopt when the file is shorter than its header: begin() makes the whole header durable before
// any record, so such a journal protected no change.
std::optional<JournalHeader> readHeader(const FileDescriptor& journal, const uint8_t volumeKey[kKeyBytes]) {
  uint8_t fixed[kFixedHeaderBytes];
  if (journal.readAt(fixed, sizeof fixed, 0) < sizeof fixed) return std::nullopt;
  if (std::memcmp(fixed, kMagic, sizeof kMagic) != 0) throw damaged(journal.path(), "not an undo journal: wrong magic");
  const uint32_t version = getU32(fixed + 8);
  if (version != kVersion) throw damaged(journal.path(), "unknown version " + std::to_string(version));
  const uint32_t contextLength = getU32(fixed + kFixedHeaderBytes - 4);
  if (contextLength > UndoJournal::kMaxContextBytes)
    throw damaged(journal.path(), "context of " + std::to_string(contextLength) + " bytes");
  std::vector<uint8_t> bytes(kFixedHeaderBytes + contextLength + kHashBytes);
  if (journal.readAt(bytes.data(), bytes.size(), 0) < bytes.size()) return std::nullopt;
  JournalHeader header;
  deriveJournalKey(volumeKey, bytes.data() + 12, header.key);
  const size_t macAt = bytes.size() - kHashBytes;
  hmacSha256(header.key.data(), kKeyBytes, bytes.data(), macAt, header.mac.data());
  if (!constantTimeEqual(header.mac.data(), bytes.data() + macAt, kHashBytes))
    throw damaged(journal.path(), "its header fails its MAC: modified, or written under another key");
  header.context.assign(bytes.begin() + kFixedHeaderBytes, bytes.begin() + macAt);
  header.length = bytes.size();
  return header;
}

struct Record {
  uint8_t type = 0;
  std::string path;
  uint64_t offset = 0;        // ORIGINAL_LENGTH: the length
  uint64_t dataPosition = 0;  // in the journal
  uint32_t dataLength = 0;
  std::string backupName;     // REPLACED
};

// The records of the journal, up to the first one that is torn or fails its MAC: a crash tears
// only records whose in-place changes never happened (preserve() syncs before it returns).
std::vector<Record> readRecords(const FileDescriptor& journal, const JournalHeader& header) {
  std::vector<Record> records;
  std::vector<uint8_t> buffer;  // previous mac ‖ record
  Hash previous = header.mac, mac;
  uint64_t position = header.length;
  for (;;) {
    uint8_t head[kRecordHeadBytes];
    if (journal.readAt(head, sizeof head, position) < sizeof head) break;
    const uint8_t type = head[0];
    const size_t pathLength = getU16(head + 1);
    if (type < kOriginalLength || type > kReplaced || pathLength == 0 || pathLength > kMaxPathBytes) break;
    const size_t dataLengthAt = kHashBytes + kRecordHeadBytes + pathLength + 8;
    buffer.resize(dataLengthAt + 4);
    if (journal.readAt(buffer.data() + kHashBytes + kRecordHeadBytes, pathLength + kRecordMidBytes,
                       position + kRecordHeadBytes) < pathLength + kRecordMidBytes)
      break;
    const uint32_t dataLength = getU32(buffer.data() + dataLengthAt);
    const uint32_t maxData = type == kPreimage ? kMaxPreimageBytes : type == kReplaced ? kMaxBackupNameBytes : 0;
    if (dataLength > maxData) break;
    const size_t bodyBytes = dataLengthAt + 4 + dataLength;  // previous mac and the record before its mac
    buffer.resize(bodyBytes + kHashBytes);
    if (journal.readAt(buffer.data() + dataLengthAt + 4, dataLength + kHashBytes,
                       position + (dataLengthAt + 4 - kHashBytes)) < dataLength + kHashBytes)
      break;
    std::memcpy(buffer.data(), previous.data(), kHashBytes);
    std::memcpy(buffer.data() + kHashBytes, head, sizeof head);
    hmacSha256(header.key.data(), kKeyBytes, buffer.data(), bodyBytes, mac.data());
    if (!constantTimeEqual(mac.data(), buffer.data() + bodyBytes, kHashBytes)) break;

    // Authentic: written by a journal under this key. Malformed content is then not a crash.
    Record r;
    r.type = type;
    r.path.assign(reinterpret_cast<const char*>(buffer.data() + kHashBytes + kRecordHeadBytes), pathLength);
    r.offset = getU64(buffer.data() + dataLengthAt - 8);
    r.dataPosition = position + (dataLengthAt + 4 - kHashBytes);
    r.dataLength = dataLength;
    const std::string where = "record at byte " + std::to_string(position);
    if (!isRecordPath(r.path)) throw damaged(journal.path(), where + " names an invalid path");
    if (r.offset > kMaxOffset || dataLength > kMaxOffset - r.offset)
      throw damaged(journal.path(), where + " has an offset past the largest file");
    if (type == kReplaced) {
      r.backupName.assign(reinterpret_cast<const char*>(buffer.data() + dataLengthAt + 4), dataLength);
      if (!isBackupName(r.backupName, journal.path()))
        throw damaged(journal.path(), where + " names an invalid backup");
    }
    records.push_back(std::move(r));
    previous = mac;
    position += bodyBytes;  // on disk: without the previous mac in front, with its own behind
  }
  return records;
}

// The files and directories rollBack() opens, once each, walked from the volume directory without
// following anything. A file that is gone, or is no longer a regular file with no other name (a
// symlink, or a hard link to a file elsewhere, planted in its place or in place of a directory on
// its way), is skipped: there is nothing of the volume left to restore into.
class RestoreTargets {
 public:
  explicit RestoreTargets(const std::string& baseDirectory) {
    int raw = FileDescriptor::openRaw(baseDirectory, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
    if (raw >= 0) {
      directories_.emplace("", FileDescriptor(raw, baseDirectory));
    } else {
      if (!isNotThere(errno)) throw systemError(errno, "open", baseDirectory);
      goneDirectories_.insert("");  // no volume directory: nothing to restore
    }
  }

  // The directory `relative` names ("" the volume directory); nullptr when it is not there.
  const FileDescriptor* directory(const std::string& relative) {
    auto found = directories_.find(relative);
    if (found != directories_.end()) return &found->second;
    if (goneDirectories_.count(relative)) return nullptr;
    auto slash = relative.find_last_of('/');
    const FileDescriptor* parent = directory(slash == std::string::npos ? "" : relative.substr(0, slash));
    int error = 0;
    FileDescriptor opened;
    if (parent) opened = openSubdirectory(*parent, relative.substr(slash == std::string::npos ? 0 : slash + 1), error);
    if (opened.fd() < 0) {
      goneDirectories_.insert(relative);
      return nullptr;
    }
    return &directories_.emplace(relative, std::move(opened)).first->second;
  }

  const FileDescriptor* open(const std::string& relative) {
    auto found = open_.find(relative);
    if (found != open_.end()) return &found->second;
    if (gone_.count(relative)) return nullptr;
    const auto [directoryPath, name] = split(relative);
    const FileDescriptor* parent = directory(directoryPath);
    if (!parent) return skip(relative);
    const std::string path = parent->path() + "/" + name;
    // Looked at before it is opened, so that no FIFO or device is even opened in the usual case;
    // what counts is the descriptor, checked again below (the host may swap the file in between).
    struct stat st;
    if (::fstatat(parent->fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (!isNotThere(errno)) throw systemError(errno, "stat", path);
      return skip(relative);
    }
    if (!isPlainFile(st)) return skip(relative);
    // O_NONBLOCK: a FIFO swapped in must not block (it is skipped below).
    int raw = openAt(parent->fd(), name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (raw < 0) {
      if (!isNotThere(errno)) throw systemError(errno, "open", path);
      return skip(relative);
    }
    FileDescriptor fd(raw, path);
    if (::fstat(raw, &st) != 0) throw systemError(errno, "fstat", path);
    if (!isPlainFile(st)) return skip(relative);
    touched_.insert(directoryPath);
    return &open_.emplace(relative, std::move(fd)).first->second;
  }

  // Renames the backup `backupName` in `journalDirectory` back over `relative`. False when the
  // backup is gone (renamed back already, or never made durable) or is not a regular file (not one
  // the journal made: left alone), or when the directory of `relative` is not there.
  bool restoreBackup(const FileDescriptor& journalDirectory, const std::string& backupName, const std::string& relative) {
    const std::string backup = journalDirectory.path() + "/" + backupName;
    struct stat st;
    if (::fstatat(journalDirectory.fd(), backupName.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      throw systemError(errno, "stat", backup);
    }
    if (!S_ISREG(st.st_mode)) return false;
    const auto [directoryPath, name] = split(relative);
    const FileDescriptor* parent = directory(directoryPath);
    if (!parent) return false;
    crashPoint("rename");
    if (::renameat(journalDirectory.fd(), backupName.c_str(), parent->fd(), name.c_str()) != 0) {
      if (errno == ENOENT || errno == EISDIR || errno == ENOTDIR || errno == ENOTEMPTY || errno == EEXIST) return false;
      throw systemError(errno, "rename", backup);
    }
    touched_.insert(directoryPath);
    return true;
  }

  void makeDurable() {
    for (auto& [relative, fd] : open_) fd.dataSync();
    for (const std::string& relative : touched_) syncDirectory(directories_.at(relative));
  }

 private:
  static std::pair<std::string, std::string> split(const std::string& relative) {
    auto slash = relative.find_last_of('/');
    if (slash == std::string::npos) return {"", relative};
    return {relative.substr(0, slash), relative.substr(slash + 1)};
  }
  const FileDescriptor* skip(const std::string& relative) {
    gone_.insert(relative);
    return nullptr;
  }

  std::map<std::string, FileDescriptor> directories_;  // relative path ("" the base) -> descriptor
  std::set<std::string> goneDirectories_;
  std::map<std::string, FileDescriptor> open_;
  std::set<std::string> gone_;
  std::set<std::string> touched_;  // directories to sync: of a file written or a backup renamed back
};

ShieldError notRegular(const std::string& journalPath, const std::string& what) {
  return ShieldError(kIntegrity,
                     "EINTEGRITY: undo journal '" + journalPath + "' is not a regular file (" + what +
                         "): no journal of shieldfs; nothing can be rolled back with it",
                     0, "open", journalPath);
}

// The journal, read only: `name` in `directory` (AT_FDCWD: `journalPath` itself), never through a
// symlink and never blocking on a FIFO. A symlink or anything else but a regular file is EINTEGRITY;
// an empty descriptor when there is nothing (ENOENT).
FileDescriptor openJournalForReading(int directory, const std::string& name, const std::string& journalPath) {
  int raw = openAt(directory, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (raw < 0) {
    const int error = errno;
    if (error == ENOENT) return FileDescriptor();
    struct stat st;
    if (error == ELOOP && ::fstatat(directory, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      throw notRegular(journalPath, "a symbolic link");
    if (error == ENXIO) throw notRegular(journalPath, "a socket or device");
    throw systemError(error, "open", journalPath);
  }
  FileDescriptor journal(raw, journalPath);
  if (!S_ISREG(journal.mode())) throw notRegular(journalPath, S_ISDIR(journal.mode()) ? "a directory" : "a special file");
  return journal;
}

}  // namespace

UndoJournal::UndoJournal(std::string journalPath, std::string baseDirectory, const uint8_t key[kKeyBytes],
                         std::vector<uint8_t> context)
    : journalPath_(std::move(journalPath)),
      baseDirectory_(std::move(baseDirectory)),
      volumeKey_(key),
      defaultContext_(std::move(context)) {
  if (defaultContext_.size() > kMaxContextBytes)
    throw ShieldError("EINVAL", "EINVAL: an undo journal's context holds at most 4096 bytes", EINVAL, "open",
                      journalPath_);
  auto parts = splitPath(baseDirectory_);
  if (!parts || baseDirectory_.empty())
    throw ShieldError("EINVAL", "EINVAL: '" + baseDirectory_ + "' is not a usable volume directory for a journal",
                      EINVAL, "open", baseDirectory_);
  baseComponents_ = std::move(*parts);
  baseAbsolute_ = baseDirectory_.front() == '/';
}

UndoJournal::~UndoJournal() = default;

bool UndoJournal::active() {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

void UndoJournal::begin() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!active_) beginLocked(defaultContext_);
}

void UndoJournal::begin(const std::vector<uint8_t>& context) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (context.size() > kMaxContextBytes)
    throw ShieldError("EINVAL", "EINVAL: an undo journal's context holds at most 4096 bytes", EINVAL, "open",
                      journalPath_);
  if (!active_) return beginLocked(context);
  // Recovery reads the context to decide what the transaction was; it must not silently be another.
  if (context != context_)
    throw ShieldError("EINVAL",
                      "EINVAL: undo journal '" + journalPath_ +
                          "' has already begun its transaction with another context; finish() it first",
                      EINVAL, "open", journalPath_);
}

void UndoJournal::beginLocked(const std::vector<uint8_t>& context) {
  FileDescriptor directory = openJournalDirectory(journalPath_, baseDirectory_);
  const std::string name = nameOf(journalPath_);
  int raw = openAt(directory.fd(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (raw < 0) {
    if (errno == EEXIST)
      throw ShieldError("EEXIST",
                        "EEXIST: undo journal '" + journalPath_ +
                            "' already exists: an earlier transaction did not finish; recovery (roll back, then "
                            "discard the journal) must run before a new transaction begins",
                        EEXIST, "open", journalPath_);
    throw systemError(errno, "open", journalPath_);
  }
  FileDescriptor journal(raw, journalPath_);
  std::vector<uint8_t> header(kFixedHeaderBytes + context.size() + kHashBytes);
  try {
    removeBackups(directory, name);  // a crash inside finish() can leave them; they belong to no transaction now
    std::memcpy(header.data(), kMagic, sizeof kMagic);
    putU32(header.data() + 8, kVersion);
    randomBytes(header.data() + 12, kSaltBytes);
    putU32(header.data() + 12 + kSaltBytes, static_cast<uint32_t>(context.size()));
    std::copy(context.begin(), context.end(), header.begin() + kFixedHeaderBytes);
    deriveJournalKey(volumeKey_.data(), header.data() + 12, journalKey_);
    const size_t macAt = header.size() - kHashBytes;
    hmacSha256(journalKey_.data(), kKeyBytes, header.data(), macAt, header.data() + macAt);
    journal.writeAt(header.data(), header.size(), 0);
    journal.dataSync();
    syncDirectory(directory);
  } catch (...) {
    ::unlinkat(directory.fd(), name.c_str(), 0);  // nothing was changed under it yet
    throw;
  }
  std::copy(header.end() - kHashBytes, header.end(), lastMac_.begin());
  journal_ = std::move(journal);
  journalDirectory_ = std::move(directory);
  journalLength_ = header.size();
  context_ = context;
  backups_ = 0;
  failed_ = false;
  active_ = true;
}

void UndoJournal::ensureUsable() const {
  if (failed_)
    throw ShieldError("EIO",
                      "EIO: undo journal '" + journalPath_ +
                          "' failed to record what a change would overwrite; nothing more may change in this "
                          "transaction: roll it back",
                      EIO, "write", journalPath_);
}

std::string UndoJournal::relativePath(const std::string& path) const {
  auto parts = splitPath(path);
  const bool inside = parts && !path.empty() && (path.front() == '/') == baseAbsolute_ &&
                      parts->size() > baseComponents_.size() &&
                      std::equal(baseComponents_.begin(), baseComponents_.end(), parts->begin());
  if (!inside)
    throw ShieldError("EINVAL",
                      "EINVAL: '" + path + "' is not inside '" + baseDirectory_ +
                          "', the directory of undo journal '" + journalPath_ + "'",
                      EINVAL, "open", path);
  std::string relative;
  for (size_t i = baseComponents_.size(); i < parts->size(); i++) relative += (relative.empty() ? "" : "/") + (*parts)[i];
  if (relative.size() > kMaxPathBytes)
    throw ShieldError("ENAMETOOLONG", "ENAMETOOLONG: '" + path + "' is too long for an undo journal", ENAMETOOLONG,
                      "open", path);
  return relative;
}

uint8_t* UndoJournal::startRecord(uint8_t type, const std::string& path, uint64_t offset, uint32_t capacity) {
  recordBuffer_.resize(kHashBytes + kRecordHeadBytes + path.size() + kRecordMidBytes + capacity + kHashBytes);
  uint8_t* p = recordBuffer_.data();
  std::memcpy(p, lastMac_.data(), kHashBytes);
  p += kHashBytes;
  *p++ = type;
  putU16(p, static_cast<uint16_t>(path.size()));
  p += 2;
  std::memcpy(p, path.data(), path.size());
  p += path.size();
  putU64(p, offset);
  p += 8;
  putU32(p, capacity);
  return p + 4;
}

void UndoJournal::appendRecord(uint32_t dataLength) {
  uint8_t* buffer = recordBuffer_.data();
  const size_t dataAt = kHashBytes + kRecordHeadBytes + getU16(buffer + kHashBytes + 1) + kRecordMidBytes;
  putU32(buffer + dataAt - 4, dataLength);
  const size_t bodyEnd = dataAt + dataLength;
  Hash mac;
  hmacSha256(journalKey_.data(), kKeyBytes, buffer, bodyEnd, mac.data());
  std::memcpy(buffer + bodyEnd, mac.data(), kHashBytes);
  // On disk the record goes without the previous mac in front but with its own behind: as long.
  const size_t recordBytes = bodyEnd;
  journal_.writeAt(buffer + kHashBytes, recordBytes, journalLength_);
  journalLength_ += recordBytes;
  lastMac_ = mac;
}

void UndoJournal::appendPreimages(const FileDescriptor& fd, const TrackedFile& file, uint64_t from, uint64_t to) {
  for (uint64_t position = from; position < to;) {
    const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(kMaxPreimageBytes, to - position));
    uint8_t* data = startRecord(kPreimage, file.relativePath, position, want);
    const size_t got = fd.readAt(data, want, position);
    // Short only if the file was cut outside its journaled descriptors: what is gone is gone, and the
    // rollback's truncate to the original length fills it with zeros.
    if (got == 0) return;
    appendRecord(static_cast<uint32_t>(got));
    if (got < want) return;
    position += got;
  }
}

void UndoJournal::preserve(const FileDescriptor& fd, uint64_t offset, uint64_t length) {
  const FileIdentity identity = fd.identity();
  const uint64_t end = length > std::numeric_limits<uint64_t>::max() - offset ? std::numeric_limits<uint64_t>::max()
                                                                                : offset + length;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = files_.find(identity);
  // The parts of [offset, end) that existed when the transaction began and are not in the journal yet.
  auto missing = [&](const TrackedFile& file) {
    std::vector<std::pair<uint64_t, uint64_t>> gaps;
    const uint64_t stop = std::min(end, file.originalLength);
    uint64_t position = offset;
    auto next = file.preserved.upper_bound(position);
    if (next != file.preserved.begin()) position = std::max(position, std::prev(next)->second);
    for (; position < stop; ++next) {
      if (next == file.preserved.end() || next->first >= stop) {
        gaps.emplace_back(position, stop);
        break;
      }
      if (next->first > position) gaps.emplace_back(position, next->first);
      position = std::max(position, next->second);
    }
    return gaps;
  };
  if (found != files_.end() && (offset >= found->second.originalLength || missing(found->second).empty())) return;

  ensureUsable();
  TrackedFile fresh;
  if (found == files_.end()) {
    fresh.relativePath = relativePath(fd.path());
    fresh.originalLength = fd.size();
    if (fresh.originalLength == 0) {
      // Empty at its first change (typically created by this transaction): nothing to preserve,
      // now or later, so no record and no journal. A rollback leaves what it holds; such files
      // are not part of the committed state, and the volume deletes them.
      files_.emplace(identity, std::move(fresh));
      return;
    }
  }
  if (!active_) beginLocked(defaultContext_);
  TrackedFile& file = found != files_.end() ? found->second : fresh;
  bool appended = false;
  try {
    if (found == files_.end()) {
      startRecord(kOriginalLength, fresh.relativePath, fresh.originalLength, 0);
      appended = true;
      appendRecord(0);
    }
    const auto gaps = missing(file);
    for (const auto& [from, to] : gaps) {
      appended = true;
      appendPreimages(fd, file, from, to);
    }
    journal_.dataSync();
    for (auto [from, to] : gaps) {  // merged into the preserved intervals
      auto next = file.preserved.upper_bound(from);
      if (next != file.preserved.begin() && std::prev(next)->second >= from) {
        --next;
        from = next->first;
        to = std::max(to, next->second);
        next = file.preserved.erase(next);
      }
      while (next != file.preserved.end() && next->first <= to) {
        to = std::max(to, next->second);
        next = file.preserved.erase(next);
      }
      file.preserved.emplace(from, to);
    }
  } catch (...) {
    // A record may be half written or not durable: the change that asked must not happen, nor any
    // later one (the chain of MACs ends at the damage).
    if (appended) failed_ = true;
    throw;
  }
  if (found == files_.end()) files_.emplace(identity, std::move(fresh));
}

void UndoJournal::preserveReplacement(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensureUsable();
  const std::string relative = relativePath(path);
  // The file is found like rollBack() finds it, from the volume directory without following: a
  // symlink (or anything but a regular file) in its place is no file of the volume, and nothing a
  // rollback would put back.
  const std::vector<std::string> parts = *splitPath(relative);
  FileDescriptor parent = openDirectory(baseDirectory_);
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    int error = 0;
    FileDescriptor next = openSubdirectory(parent, parts[i], error);
    if (next.fd() < 0) return;  // nothing there: nothing to keep
    parent = std::move(next);
  }
  const std::string& name = parts.back();
  struct stat st;
  if (::fstatat(parent.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (isNotThere(errno)) return;
    throw systemError(errno, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) return;
  auto found = files_.find({static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
  if (found != files_.end() && found->second.originalLength == 0) return;  // new in this transaction
  if (!active_) beginLocked(defaultContext_);
  const std::string backupName = backupPrefix(journalPath_) + std::to_string(backups_);
  const int into = journalDirectory_.fd();
  // Flags 0: a symlink swapped in meanwhile is linked itself, never what it names (and a rollback
  // leaves a backup that is no regular file alone).
  int rc = ::linkat(parent.fd(), name.c_str(), into, backupName.c_str(), 0);
  if (rc != 0 && errno == EEXIST) {  // a stray one no record names
    ::unlinkat(into, backupName.c_str(), 0);
    rc = ::linkat(parent.fd(), name.c_str(), into, backupName.c_str(), 0);
  }
  if (rc != 0) {
    if (errno == ENOENT) return;  // gone meanwhile: nothing to keep
    throw systemError(errno, "link", path);
  }
  backups_++;
  bool appended = false;
  try {
    syncDirectory(journalDirectory_);
    uint8_t* data = startRecord(kReplaced, relative, 0, static_cast<uint32_t>(backupName.size()));
    std::memcpy(data, backupName.data(), backupName.size());
    appended = true;
    appendRecord(static_cast<uint32_t>(backupName.size()));
    journal_.dataSync();
  } catch (...) {
    if (appended) failed_ = true;
    throw;
  }
}

void UndoJournal::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  files_.clear();  // also the files that were empty: the next transaction must preserve what they hold
  if (!active_) return;
  const std::string name = nameOf(journalPath_);
  crashPoint("unlink");
  if (::unlinkat(journalDirectory_.fd(), name.c_str(), 0) != 0 && errno != ENOENT)
    throw systemError(errno, "unlink", journalPath_);  // the transaction ends here
  try {
    journal_.close();
  } catch (const ShieldError&) {
    // The journal is already gone; an error closing it changes nothing.
  }
  active_ = false;
  failed_ = false;
  context_.clear();
  wipe(journalKey_.data(), kKeyBytes);
  recordBuffer_.clear();
  recordBuffer_.shrink_to_fit();
  FileDescriptor directory = std::move(journalDirectory_);
  removeBackups(directory, name);
  syncDirectory(directory);
}

std::optional<std::vector<uint8_t>> UndoJournal::readContext(const std::string& journalPath,
                                                             const uint8_t key[kKeyBytes]) {
  FileDescriptor journal = openJournalForReading(AT_FDCWD, journalPath, journalPath);
  if (journal.fd() < 0) return std::nullopt;
  auto header = readHeader(journal, key);
  if (!header) return std::nullopt;
  return std::move(header->context);
}

std::vector<uint8_t> UndoJournal::rollBack(const std::string& journalPath, const std::string& baseDirectory,
                                           const uint8_t key[kKeyBytes]) {
  const FileDescriptor journalDirectory = openJournalDirectory(journalPath, baseDirectory);
  const std::string journalName = nameOf(journalPath);
  FileDescriptor journal = openJournalForReading(journalDirectory.fd(), journalName, journalPath);
  if (journal.fd() < 0) throw systemError(ENOENT, "open", journalPath);
  auto header = readHeader(journal, key);
  if (!header) return {};
  const std::vector<Record> records = readRecords(journal, *header);

  // Records of a path after it was replaced describe the file that replaced it, which the backup
  // puts aside again: only what came before applies, and it applies to the restored backup.
  std::set<std::string> replaced;
  std::vector<const Record*> replacements, preimages;
  std::map<std::string, uint64_t> originalLengths;
  for (const Record& r : records) {
    if (replaced.count(r.path)) continue;
    switch (r.type) {
      case kOriginalLength: originalLengths.emplace(r.path, r.offset); break;
      case kPreimage: preimages.push_back(&r); break;
      case kReplaced:
        replaced.insert(r.path);
        replacements.push_back(&r);
        break;
    }
  }

  RestoreTargets targets(baseDirectory);
  bool journalDirectoryChanged = false;
  for (const Record* r : replacements)
    journalDirectoryChanged |= targets.restoreBackup(journalDirectory, r->backupName, r->path);
  // The backups still there are a second name of a file rollBack() restores (the crash came before
  // the rename that the backup was made for, or before its record was durable), or belong to no
  // file that is left: they go, so every file restored has no other name (RestoreTargets skips
  // those that have one).
  journalDirectoryChanged |= removeBackups(journalDirectory, journalName);
  // Newest first, so if a byte was preserved twice the oldest copy is the one that stays.
  std::vector<uint8_t> data;
  for (auto it = preimages.rbegin(); it != preimages.rend(); ++it) {
    const Record& r = **it;
    const FileDescriptor* target = targets.open(r.path);
    if (!target) continue;
    data.resize(r.dataLength);  // bounded by kMaxPreimageBytes (readRecords)
    if (journal.readAt(data.data(), r.dataLength, r.dataPosition) != r.dataLength)
      throw damaged(journalPath, "it changed while it was being rolled back");
    target->writeAt(data.data(), r.dataLength, r.offset);
  }
  for (const auto& [path, length] : originalLengths) {
    const FileDescriptor* target = targets.open(path);
    if (target) target->truncate(length);
  }
  targets.makeDurable();
  if (journalDirectoryChanged) syncDirectory(journalDirectory);  // the backups' old names are gone for good
  return std::move(header->context);
}

void UndoJournal::discard(const std::string& journalPath) {
  // Unlinking a symlink (or a hard link) planted as the journal removes that name only.
  auto directory = openJournalDirectoryAsNamed(journalPath);
  if (!directory) return;  // no directory: no journal, nothing to make durable
  const std::string name = nameOf(journalPath);
  crashPoint("unlink");
  if (::unlinkat(directory->fd(), name.c_str(), 0) != 0 && errno != ENOENT)
    throw systemError(errno, "unlink", journalPath);
  removeBackups(*directory, name);
  syncDirectory(*directory);
}

}  // namespace shieldfs
