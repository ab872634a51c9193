// Helpers for the external-algorithm tests: private folders, scripts, scoped environment.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace imgpipe::algorithms::testing {

// A fresh folder under $IMGPIPE_TEST_TMPDIR (else /tmp), removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("IMGPIPE_TEST_TMPDIR");
    std::string root = base != nullptr && base[0] == '/' ? base : "/tmp";
    std::filesystem::create_directories(root);
    std::string templ = root + "/external-test-XXXXXX";
    EXPECT_NE(mkdtemp(templ.data()), nullptr);
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

  // Writes `text` to `name` in the folder (mode 0755 when `executable`); returns its path.
  std::string Write(const std::string& name, const std::string& text, bool executable = false) {
    const std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    chmod(p.c_str(), executable ? 0755 : 0644);
    return p;
  }
  // A /bin/sh script.
  std::string Script(const std::string& name, const std::string& body) {
    return Write(name, "#!/bin/sh\n" + body + "\n", true);
  }

 private:
  std::string path_;
};

// Sets an environment variable for its lifetime (tests run one at a time in a process).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace imgpipe::algorithms::testing
