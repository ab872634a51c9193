// External algorithms: the shipped example, and every way a program can misbehave.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "algorithms/algorithms.h"
#include "algorithms/external_test_util.h"

namespace imgpipe::algorithms {
namespace {

using core::StatusCode;
using testing::ScopedEnv;
using testing::ScratchDir;

// A 4x5 CT-like S16 image with a modality LUT: real = stored * 2 - 100.
Image TestImage() {
  Image image = Image::Make(4, 5, 1, PixelType::kS16);
  for (int i = 0; i < 20; ++i) image.data<int16_t>()[i] = static_cast<int16_t>(i * 7 - 30);
  image.rescale_slope = 2;
  image.rescale_intercept = -100;
  image.modality = "CT";
  image.pixel_spacing_row = image.pixel_spacing_col = 0.5;
  return image;
}

ExternalSpec SpecFor(const std::string& program, std::chrono::milliseconds time_limit = {}) {
  ExternalSpec spec;
  spec.info.name = "test_program";
  spec.info.description = "a test";
  spec.info.scopes = {"image"};
  spec.command = {program};
  if (time_limit.count() > 0) spec.time_limit = time_limit;
  return spec;
}

core::Result<Output> RunSpec(ExternalSpec spec, const RunContext& ctx = {}) {
  core::Result<std::unique_ptr<Algorithm>> algorithm = MakeExternalAlgorithm(std::move(spec));
  if (!algorithm.ok()) return algorithm.status();
  core::Result<Params> params = ValidateParams((*algorithm)->info(), nullptr);
  if (!params.ok()) return params.status();
  return (*algorithm)->Run(TestImage(), *params, ctx);
}

int ReadPid(const std::string& path) {
  int pid = 0;
  std::ifstream(path) >> pid;
  return pid;
}

// True when `pid` no longer runs: gone, or a zombie waiting for a reaper that is not us (our
// orphaned grandchildren are reparented to an init that may reap them late). Waits up to 10 s
// for the kill to land; no timing is asserted.
bool ProcessGone(int pid) {
  for (int i = 0; i < 200; ++i) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z') {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool IsEmptyDir(const std::string& dir) { return std::filesystem::is_empty(dir); }

TEST(ExternalTest, ExampleInvertsTheImage) {
  std::unique_ptr<Registry> registry = Registry::WithBuiltIns();
  ASSERT_TRUE(LoadExternalAlgorithms(IMGPIPE_EXTERNAL_EXAMPLES_DIR, *registry).ok());
  const Algorithm* invert = registry->Find("invert");
  ASSERT_NE(invert, nullptr);
  EXPECT_NE(registry->Find("clahe"), nullptr);
  EXPECT_EQ(InfoJson(invert->info()).at("params").at("properties").at("offset").at("type"),
            "number");
  core::Result<Params> params =
      ValidateParams(invert->info(), boost::json::parse(R"({"offset":5})"));
  ASSERT_TRUE(params.ok()) << params.status().ToString();

  int last_done = 0, last_total = 0;
  RunContext ctx;
  ctx.progress = [&](int done, int total) { last_done = done, last_total = total; };
  const Image input = TestImage();
  core::Result<Output> out = invert->Run(input, *params, ctx);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(last_done, 3);
  EXPECT_EQ(last_total, 3);

  const Image& image = out->image;
  ASSERT_EQ(image.type, PixelType::kF32);
  ASSERT_EQ(image.rows, 4);
  ASSERT_EQ(image.columns, 5);
  EXPECT_EQ(image.modality, "CT");
  EXPECT_EQ(image.pixel_spacing_row, 0.5);
  const double lo = -30 * 2 - 100, hi = (19 * 7 - 30) * 2 - 100;
  for (int i = 0; i < 20; ++i) {
    const double real = input.data<int16_t>()[i] * 2.0 - 100;
    EXPECT_FLOAT_EQ(image.data<float>()[i], lo + hi - real + 5) << "pixel " << i;
  }
  EXPECT_EQ(out->summary.at("min").to_number<double>(), lo);
  EXPECT_EQ(out->summary.at("max").to_number<double>(), hi);
  EXPECT_NE(out->log.find("stdout:\ninvert: 4x5x1"), std::string::npos) << out->log;
  EXPECT_FALSE(out->mask.has_value());
}

TEST(ExternalTest, SeesOnlyItsFolderAndAClearedEnvironment) {
  ScratchDir dir;
  ScopedEnv secret("IMGPIPE_SECRET_TEST", "1");
  // A descriptor the test process leaks on purpose (no O_CLOEXEC): the program must not get it.
  const int leak = dup2(STDERR_FILENO, 57);
  ASSERT_EQ(leak, 57);
  const std::string script = dir.Script("show.sh", R"sh(
env
echo "cwd=$(pwd)"
ls
cat input.dcm; echo
cat input.json; echo
if [ -e /proc/$$/fd/57 ]; then echo leaked-fd; fi
printf '{"summary":{"seen":true}}' > output.json
head -c 20 /dev/zero | tr '\0' '\377' > mask.raw)sh");
  RunContext ctx;
  ctx.source_file = "DICM-bytes-of-the-source";
  core::Result<Output> out = RunSpec(SpecFor(script), ctx);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const std::string& log = out->log;
  close(leak);
  EXPECT_EQ(log.find("IMGPIPE_SECRET_TEST"), std::string::npos) << log;
  EXPECT_EQ(log.find("leaked-fd"), std::string::npos) << log;
  EXPECT_NE(log.find("PATH=/usr/local/bin:/usr/bin:/bin"), std::string::npos) << log;
  EXPECT_NE(log.find("IMGPIPE_INPUT=/"), std::string::npos) << log;
  EXPECT_NE(log.find("LANG=C.UTF-8"), std::string::npos) << log;
  EXPECT_NE(log.find("input.f32"), std::string::npos) << log;
  EXPECT_NE(log.find("DICM-bytes-of-the-source"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("rescale_slope":2)"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("type":"f32")"), std::string::npos) << log;
  EXPECT_EQ(out->summary.at("seen"), true);
  // No output image: the result image is the input; the mask is read back.
  EXPECT_EQ(out->image.pixels, TestImage().pixels);
  ASSERT_TRUE(out->mask.has_value());
  EXPECT_EQ(out->mask->rows, 4);
  EXPECT_EQ(out->mask->pixels[19], 255);
}

TEST(ExternalTest, NoServerSecretReachesTheProgramAndItsFolderIsPrivate) {
  ScratchDir dir, tmp;
  ScopedEnv tmpdir("TMPDIR", tmp.path());
  // What a server process may hold in its environment (docs/security.md, "Secrets").
  ScopedEnv admin("IMGPIPE_ADMIN_KEY", "admin-key-value-7f3a");
  ScopedEnv db("IMGPIPE_DATABASE_URL", "postgresql://u:db-pass-7f3a@h/db");
  ScopedEnv aws_key("AWS_ACCESS_KEY_ID", "AKIA7F3A");
  ScopedEnv aws_secret("AWS_SECRET_ACCESS_KEY", "aws-secret-7f3a");
  ScopedEnv aws_token("AWS_SESSION_TOKEN", "aws-token-7f3a");
  ScopedEnv pg_password("PGPASSWORD", "pg-pass-7f3a");
  const std::string script = dir.Script("secrets.sh", R"sh(
env; cat /proc/$$/environ | tr '\0' '\n'
echo "mode=$(stat -c %a .)"
echo "files=$(ulimit -n) core=$(ulimit -c)"
printf '{}' > output.json)sh");
  core::Result<Output> out = RunSpec(SpecFor(script));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const std::string& log = out->log;
  EXPECT_EQ(log.find("7f3a"), std::string::npos) << log;
  EXPECT_EQ(log.find("7F3A"), std::string::npos) << log;
  for (const char* name : {"IMGPIPE_ADMIN_KEY", "IMGPIPE_DATABASE_URL", "AWS_", "PGPASSWORD"}) {
    EXPECT_EQ(log.find(name), std::string::npos) << name << " in " << log;
  }
  EXPECT_NE(log.find("mode=700"), std::string::npos) << log;
  EXPECT_NE(log.find("files=256 core=0"), std::string::npos) << log;
  EXPECT_TRUE(IsEmptyDir(tmp.path())) << "work folder left behind";
}

TEST(ExternalTest, ACrashNamesTheSignal) {
  ScratchDir dir;
  core::Result<Output> out = RunSpec(SpecFor(dir.Script("crash.sh", "kill -SEGV $$")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_NE(out.status().message().find("crashed (signal SIGSEGV)"), std::string::npos)
      << out.status().message();
}

TEST(ExternalTest, NonZeroExitCarriesTheLastStderrLine) {
  ScratchDir dir;
  core::Result<Output> out = RunSpec(SpecFor(dir.Script(
      "fail.sh", "echo working; echo 'first' >&2; echo 'the input is not a chest' >&2; exit 7")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_EQ(out.status().message(),
            "external algorithm test_program exited with status 7: the input is not a chest");
}

TEST(ExternalTest, TimeLimitKillsTheWholeGroupAndCleansUp) {
  ScratchDir dir, tmp;
  ScopedEnv tmpdir("TMPDIR", tmp.path());
  const std::string pids = dir.path();
  const std::string script =
      dir.Script("hang.sh", "echo $$ > " + pids + "/child.pid\nsleep 600 &\necho $! > " + pids +
                                "/grandchild.pid\nwait");
  core::Result<Output> out = RunSpec(SpecFor(script, std::chrono::milliseconds(3000)));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_EQ(out.status().message(), "external algorithm test_program timed out after 3 s");
  const int child = ReadPid(pids + "/child.pid"), grandchild = ReadPid(pids + "/grandchild.pid");
  ASSERT_GT(child, 0);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(kill(child, 0) != 0 && errno == ESRCH) << "child " << child << " still exists";
  EXPECT_TRUE(ProcessGone(grandchild)) << "grandchild " << grandchild << " still runs";
  EXPECT_TRUE(IsEmptyDir(tmp.path())) << "work folder left behind";
}

TEST(ExternalTest, AChildThatClosesItsOutputsStillTimesOut) {
  ScratchDir dir;
  core::Result<Output> out = RunSpec(
      SpecFor(dir.Script("quiet.sh", "exec >&- 2>&-\nsleep 600"), std::chrono::milliseconds(500)));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("timed out"), std::string::npos);
}

TEST(ExternalTest, AGrandchildHoldingThePipesDoesNotHangTheRun) {
  ScratchDir dir;
  const std::string script =
      dir.Script("daemon.sh", "printf '{}' > output.json\nsleep 600 &\necho $! > " + dir.path() +
                                  "/grandchild.pid\nexit 0");
  core::Result<Output> out = RunSpec(SpecFor(script));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(ProcessGone(ReadPid(dir.path() + "/grandchild.pid")));
}

TEST(ExternalTest, CancellationStopsAHang) {
  ScratchDir dir, tmp;
  ScopedEnv tmpdir("TMPDIR", tmp.path());
  const std::string script =
      dir.Script("hang.sh", "echo $$ > " + dir.path() + "/child.pid\nexec sleep 600");
  std::atomic<int> polls{0};
  RunContext ctx;
  // Cancelled once the program has had time to start (its pid file exists).
  ctx.cancelled = [&] {
    ++polls;
    return polls > 1 && std::filesystem::exists(dir.path() + "/child.pid");
  };
  core::Result<Output> out = RunSpec(SpecFor(script, std::chrono::milliseconds(600'000)), ctx);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(out.status().message(), "cancelled");
  const int child = ReadPid(dir.path() + "/child.pid");
  ASSERT_GT(child, 0);
  EXPECT_TRUE(kill(child, 0) != 0 && errno == ESRCH);
  EXPECT_TRUE(IsEmptyDir(tmp.path()));
}

TEST(ExternalTest, HugeOutputIsBounded) {
  ScratchDir dir;
  ExternalSpec spec = SpecFor(dir.Script(
      "chatty.sh", "head -c 10485760 /dev/zero | tr '\\0' x\nprintf '{}' > output.json"));
  spec.log_limit_bytes = 64 << 10;
  core::Result<Output> out = RunSpec(std::move(spec));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_LT(out->log.size(), 2 * (64 << 10) + 200u);
  EXPECT_NE(
      out->log.find("[stdout truncated: " + std::to_string(10485760 - 65536) + " more bytes]"),
      std::string::npos);
}

TEST(ExternalTest, MemoryLimitApplies) {
  const std::string invert = std::string(IMGPIPE_EXTERNAL_EXAMPLES_DIR) + "/invert/invert";
  ExternalSpec spec = SpecFor(invert);
  spec.command = {invert, "--allocate-mb", "256"};
  spec.memory_limit_bytes = 64ull << 20;
  core::Result<Output> out = RunSpec(spec);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "external algorithm test_program exited with status 3: invert: cannot allocate 256 MB");
  // The same allocation under a larger limit succeeds: the limit, not the machine, refused it.
  spec.memory_limit_bytes = 1024ull << 20;
  core::Result<Output> fits = RunSpec(spec);
  EXPECT_TRUE(fits.ok()) << fits.status().ToString();
}

TEST(ExternalTest, AProgramThatCannotBeExecutedIsAClearError) {
  ScratchDir dir;
  const std::string no_shebang = dir.Write("plain.txt", "just text\n", true);
  core::Result<Output> out = RunSpec(SpecFor(no_shebang));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable);
  EXPECT_NE(out.status().message().find("cannot run " + no_shebang + ": execve: Exec format error"),
            std::string::npos)
      << out.status().message();
}

TEST(ExternalTest, BadOutputsAreUnprocessable) {
  struct Case {
    std::string script, expected;
  };
  const Case cases[] = {
      {"true", "the program wrote no output.json"},
      {"printf 'nope' > output.json", "output.json: not valid JSON"},
      {R"(printf '{"rows":2,"colums":2}' > output.json)", "output.json: unknown key 'colums'"},
      {R"(printf '{"rows":2,"columns":2,"type":"u8"}' > output.json; printf abc > output.raw)",
       "output.raw has 3 bytes; output.json's 2x2x1 u8 needs 4"},
      {R"(printf '{"rows":2,"columns":2,"type":"u8"}' > output.json)", "output.raw is missing"},
      {R"(printf '{"rows":70000,"columns":2,"type":"u8"}' > output.json)",
       "'rows' must be an integer within 1..65535"},
      {R"(printf '{"rows":1,"columns":1,"type":"f64"}' > output.json)", "'type' must be u8"},
      {"printf '{}' > output.json; printf abc > mask.raw", "mask.raw has 3 bytes"},
      {"printf '{}' > output.json; printf abc > output.dcm", "output.dcm is not a usable DICOM"},
      {"printf '{}' > output.json; ln -s /etc/passwd mask.raw", "mask.raw: "},
  };
  for (const Case& c : cases) {
    ScratchDir dir;
    core::Result<Output> out = RunSpec(SpecFor(dir.Script("bad.sh", c.script)));
    ASSERT_FALSE(out.ok()) << c.script;
    EXPECT_EQ(out.status().code(), StatusCode::kUnprocessable) << c.script;
    EXPECT_NE(out.status().message().find(c.expected), std::string::npos)
        << c.script << " -> " << out.status().message();
  }
}

}  // namespace
}  // namespace imgpipe::algorithms
