#include "echo/client/bench/bench_report.hpp"
#include "echo/client/config/client_config.hpp"
#include "echo/common/usage_error.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A directory of its own for each test, removed after it.
class ReportFile : public ::testing::Test {
protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "report-output-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    dir_ = name;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string contents(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

TEST(WallTime, WrittenAndReadBackToTheMillisecond) {
  const echo::wall_time when{std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 23h + 59min + 58s + 7ms};
  EXPECT_EQ(echo::wall_time_text(when), "2024-02-29T23:59:58.007Z");
  EXPECT_EQ(echo::parse_wall_time("2024-02-29T23:59:58.007Z"), when);
}

TEST(WallTime, OnlyTheOneFormIsRead) {
  for (const char* text : {"2023-02-29T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-01-01T00:60:00.000Z",
                           "2024-01-01T00:00:00Z", "2024-01-01 00:00:00.000Z", "2024-01-01T00:00:00.000+01:00",
                           "1969-12-31T23:59:59.999Z", "+024-01-01T00:00:00.000Z", ""})
    EXPECT_FALSE(echo::parse_wall_time(text)) << text;
}

TEST(WallTime, ARunIsStampedWithWhenItRanAndAnId) {
  echo::bench_report r;
  r.seconds = 1.5;
  const auto before = std::chrono::system_clock::now();
  echo::stamp_wall_clock(r, std::chrono::steady_clock::now() - 1500ms);
  ASSERT_TRUE(r.window);
  EXPECT_EQ(r.window->to - r.window->from, 1500ms);
  EXPECT_LE(r.window->from, before - 1400ms);
  EXPECT_GE(r.window->from, before - 1600ms);
  EXPECT_EQ(r.together, r.window);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.runs[0].size(), 16u);
}

TEST(BenchReport, TheTextReportHasP999) {
  echo::bench_report r;
  for (std::uint64_t i = 1; i <= 10'000; ++i) r.latency.record(i * 1000);
  r.requests = r.latency.count();
  const auto text = echo::format_text(r);
  EXPECT_NE(text.find("p99 10.0ms  p99.9 10ms  max 10ms"), std::string::npos) << text;
}

TEST_F(ReportFile, IsWrittenWholeAndReplacesTheOldOne) {
  const auto path = dir_ / "report.json";
  { std::ofstream(path) << "old"; }
  echo::write_report_file(path.string(), "{\"new\":1}\n");
  EXPECT_EQ(contents(path), "{\"new\":1}\n");
  EXPECT_EQ(entries(), 1u); // no file of its own left beside it
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
}

TEST_F(ReportFile, AFailureSaysWhyAndLeavesNothingBehind) {
  const auto path = dir_ / "report.json";
  fs::create_directory(path); // rename() cannot replace a directory with a file
  fs::create_directory(path / "inside");
  try {
    echo::write_report_file(path.string(), "{}\n");
    FAIL() << "written over a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write the report to " + path.string() + ": "), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(entries(), 1u);
  try {
    echo::write_report_file((dir_ / "missing" / "report.json").string(), "{}\n");
    FAIL() << "written into a directory that is not there";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

std::string usage_message(std::vector<std::string> args) {
  try {
    echo::parse_client_config(args);
  } catch (const echo::usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a usage_error";
  return {};
}

TEST_F(ReportFile, JsonOutIsCheckedBeforeTheRun) {
  const auto path = (dir_ / "r.json").string();
  const auto c = echo::parse_client_config({"--bench", "--json-out", path}).config;
  EXPECT_EQ(c.json_out, path);
  EXPECT_EQ(echo::parse_client_config({"--merge", "a.json", "--json-out", path}).config.json_out, path);
  EXPECT_EQ(usage_message({"--json-out", path}), "--json-out needs --bench or --merge");
  EXPECT_EQ(usage_message({"--bench", "--json-out", dir_.string()}),
            "invalid value for --json-out: '" + dir_.string() + "' (a directory)");
  const auto nowhere = (dir_ / "missing" / "r.json").string();
  EXPECT_EQ(usage_message({"--bench", "--json-out", nowhere}),
            "invalid value for --json-out: '" + nowhere + "' (no directory " + (dir_ / "missing").string() + ")");
  EXPECT_EQ(usage_message({"--bench", "--json-out", ""}), "invalid value for --json-out: '' (expected a file name)");
}

TEST(ProgressOption, IsABenchOption) {
  EXPECT_TRUE(echo::parse_client_config({"--bench", "--progress"}).config.bench->progress);
  EXPECT_FALSE(echo::parse_client_config({"--bench"}).config.bench->progress);
  EXPECT_NE(usage_message({"--progress"}).find("need --bench"), std::string::npos);
  EXPECT_EQ(usage_message({"--merge", "a.json", "--progress"}),
            "--merge takes only report files (and --json, --json-out)");
  EXPECT_EQ(usage_message({"--merge", "a.json", "--json", "--connections", "5"}),
            "--merge takes only report files (and --json, --json-out)");
}

} // namespace
