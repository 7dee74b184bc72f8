// FileLock (core/file_lock.h): a directory is locked itself, a lock file is created 0600 and must be
// a regular file; nothing at the path is followed (a symlink is EINVAL) or waited on (a FIFO is
// EINVAL); flock semantics between descriptors and between processes.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "file_lock.h"
#include "harness.h"
#include "shield_error.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

// What another process gets when it asks for the lock: "locked" or the error code.
std::string otherProcessTakes(const std::string& path, bool exclusive) {
  int pipeFds[2];
  if (::pipe(pipeFds) != 0) throw Failure("pipe failed");
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipeFds[0]);
    std::string answer;
    try {
      FileLock lock(path, exclusive);
      answer = "locked";
    } catch (const ShieldError& e) {
      answer = e.code();
    } catch (...) {
      answer = "other";
    }
    (void)!::write(pipeFds[1], answer.data(), answer.size());
    ::_exit(0);
  }
  ::close(pipeFds[1]);
  std::string answer;
  char buf[64];
  ssize_t n;
  while ((n = ::read(pipeFds[0], buf, sizeof buf)) > 0) answer.append(buf, static_cast<size_t>(n));
  ::close(pipeFds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return answer;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST(directory_is_locked_itself) {
  TempDir dir;
  const std::string volume = dir.file(".shieldfs");
  std::filesystem::create_directories(volume);
  {
    FileLock writer(volume, true);
    CHECK(writer.held());
    CHECK_EQ(otherProcessTakes(volume, true), std::string("EBUSY"));
    CHECK_EQ(otherProcessTakes(volume, false), std::string("EBUSY"));
    auto e = EXPECT_SHIELD_ERROR("EBUSY", FileLock(volume, false));  // another descriptor, same process
    CHECK_EQ(e.path(), volume);
    CHECK(std::string(e.what()).find(volume) != std::string::npos);
    CHECK(std::filesystem::is_empty(volume));  // nothing created in it
    writer.release();
    writer.release();  // idempotent
    CHECK(!writer.held());
    CHECK_EQ(otherProcessTakes(volume, true), std::string("locked"));
  }
  FileLock reader(volume, false);
  FileLock another(volume, false);
  CHECK_EQ(otherProcessTakes(volume, false), std::string("locked"));
  CHECK_EQ(otherProcessTakes(volume, true), std::string("EBUSY"));
}

TEST(lock_file_is_created_0600_and_excludes) {
  TempDir dir;
  const std::string path = dir.file("lock");
  {
    FileLock lock(path, true);
    struct stat st;
    CHECK(::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600u);
    CHECK_EQ(otherProcessTakes(path, false), std::string("EBUSY"));
  }
  CHECK_EQ(otherProcessTakes(path, true), std::string("locked"));
  writeWholeFile(path, std::vector<uint8_t>(10, 7));  // an existing one is used as it is
  {
    FileLock lock(path, false);
  }
  CHECK(readWholeFile(path) == std::vector<uint8_t>(10, 7));
  EXPECT_SHIELD_ERROR("ENOENT", FileLock(dir.file("no-such-directory/lock"), true));
}

TEST(symlinks_are_refused) {
  TempDir dir;
  const std::string target = dir.file("target"), targetDirectory = dir.file("target-directory");
  writeWholeFile(target, std::vector<uint8_t>(5, 1));
  std::filesystem::create_directories(targetDirectory);
  const std::string link = dir.file("lock");
  for (const std::string& to : {target, targetDirectory, dir.file("not-there")}) {
    std::filesystem::remove(link);
    CHECK(::symlink(to.c_str(), link.c_str()) == 0);
    auto e = EXPECT_SHIELD_ERROR("EINVAL", FileLock(link, true));
    CHECK_EQ(e.path(), link);
    CHECK(std::string(e.what()).find("symbolic link") != std::string::npos);
  }
  CHECK(!exists(dir.file("not-there")));  // a dangling symlink creates nothing
  CHECK(readWholeFile(target) == std::vector<uint8_t>(5, 1));
  // Neither was locked through the link.
  CHECK_EQ(otherProcessTakes(target, true), std::string("locked"));
  CHECK_EQ(otherProcessTakes(targetDirectory, true), std::string("locked"));
}

TEST(special_files_are_refused_without_blocking) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  CHECK(::mkfifo(fifo.c_str(), 0600) == 0);
  auto e = EXPECT_SHIELD_ERROR("EINVAL", FileLock(fifo, true));  // must not wait for a writer
  CHECK(std::string(e.what()).find("FIFO") != std::string::npos);

  const std::string socketPath = dir.file("socket");
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(s >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socketPath.size() < sizeof address.sun_path) {
    std::memcpy(address.sun_path, socketPath.c_str(), socketPath.size() + 1);
    CHECK(::bind(s, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    e = EXPECT_SHIELD_ERROR("EINVAL", FileLock(socketPath, true));
    CHECK(std::string(e.what()).find("socket") != std::string::npos);
  }
  ::close(s);
}

SHIELDTEST_MAIN()
