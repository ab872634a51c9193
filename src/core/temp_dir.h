// TempDir: a fresh directory for a test, under $IMGPIPE_TEST_TMPDIR (set by CTest) or /tmp,
// removed with everything in it by the destructor. Test support only.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace imgpipe::core {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "imgpipe") {
    const char* base = std::getenv("IMGPIPE_TEST_TMPDIR");
    std::filesystem::path parent = base != nullptr && *base != '\0' ? base : "/tmp";
    std::filesystem::create_directories(parent);
    std::string templ = (parent / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace imgpipe::core
