// The standard process metrics of Prometheus client libraries, read from /proc (Linux).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/metrics.h"

namespace imgpipe::metrics {
namespace {

// Open file descriptors: the entries of /proc/self/fd (minus the one reading it).
double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;
}

// Resident set size from /proc/self/statm (pages).
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Start time: field 22 of /proc/self/stat (clock ticks after boot) plus the boot time.
double StartTimeSeconds() {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) {
      std::ifstream proc_stat("/proc/stat");
      std::string key;
      double btime = 0;
      while (proc_stat >> key) {
        if (key == "btime") {
          proc_stat >> btime;
          break;
        }
      }
      return btime + std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return 0;
}

}  // namespace

CollectorHandle AddProcessCollector(Registry& registry) {
  const double start = StartTimeSeconds();  // fixed for the process's life
  return registry.AddCollector([start](Exposition& out) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    out.Add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            Type::kCounter, cpu);
    out.Add("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge,
            ResidentBytes());
    out.Add("process_open_fds", "Number of open file descriptors.", Type::kGauge, OpenFds());
    out.Add("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge,
            static_cast<double>(files.rlim_cur));
    out.Add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            Type::kGauge, start);
  });
}

}  // namespace imgpipe::metrics
