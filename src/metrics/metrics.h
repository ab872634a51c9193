// Metrics: counters, gauges and histograms, exposed in the Prometheus text format (version
// 0.0.4) by GET /metrics.
//
// Two kinds of sources:
//   - instruments the code updates as things happen (Counter, Gauge, Histogram), grouped in
//     families that share a name and label names (one child per label-value tuple);
//   - collectors, called at each scrape, for values that are cheaper to read than to track
//     (queue depths from the database, the process's RSS and open files).
//
// Thread-safety: everything is safe to use from any thread. Updating an instrument is lock-free
// (atomics); looking up a child by labels takes the family's mutex, so hot paths look a child up
// once and keep the reference (children live as long as the registry). Collectors run with the
// registry's mutex held: they must not call the registry.
//
// Names follow Prometheus conventions: `imgpipe_` prefix, base units (seconds, bytes), `_total`
// for counters. Label values must come from small sets (route patterns, algorithm names, queue
// names), never from request data such as ids.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgpipe::metrics {

// A count that only goes up.
class Counter {
 public:
  void Inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (cumulative on output), plus their
// sum and count. A scrape racing an Observe may see the count and the sum one observation apart,
// which Prometheus tolerates.
class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing, finite.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Bucket bounds for latencies in seconds: 0.5 ms .. 60 s.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// One sample a collector reports: label pairs and a value.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class Registry;
template <typename T>
class Family;

// What collectors write into at a scrape.
class Exposition {
 public:
  // Adds samples of counter or gauge family `name`; several calls for one name add up (the
  // family is written once, its samples together).
  void Add(std::string_view name, std::string_view help, Type type, std::vector<Sample> samples);
  // Adds one unlabelled sample.
  void Add(std::string_view name, std::string_view help, Type type, double value);

 private:
  friend class Registry;
  template <typename T>
  friend class Family;
  struct FamilyText {
    std::string help;
    Type type = Type::kGauge;
    std::string samples;  // rendered sample lines
  };
  std::map<std::string, FamilyText, std::less<>> families_;
};

// A family of one kind of instrument: the children by label values.
template <typename T>
class Family {
 public:
  // The child for `values` (as many as the family's label names), created on first use.
  T& Labels(std::initializer_list<std::string_view> values);
  // The child of an unlabelled family.
  T& Get() { return Labels({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}
  void Render(Exposition& out) const;

  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;  // GUARDED_BY(mu_)
};

// Unregisters its collector when destroyed (or reset); movable.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept { *this = std::move(other); }
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle() { Reset(); }
  void Reset();

 private:
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The family called `name`, created on the first call; later calls return the same family.
  // REQUIRES: a later call gives the same kind and label names (a programming error otherwise,
  // reported by throwing std::logic_error).
  Family<Counter>& CounterFamily(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names = {});
  Family<Gauge>& GaugeFamily(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names = {});
  Family<Histogram>& HistogramFamily(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds);

  // Calls `collect` at every Render until the handle is destroyed.
  [[nodiscard]] CollectorHandle AddCollector(std::function<void(Exposition&)> collect);

  // Every family and collector, in the Prometheus text format, families sorted by name.
  std::string Render() const;

 private:
  friend class CollectorHandle;
  void RemoveCollector(uint64_t id);
  template <typename T>
  Family<T>& FamilyOf(std::map<std::string, std::unique_ptr<Family<T>>, std::less<>>& families,
                      std::string_view name, std::string_view help, Type type,
                      std::vector<std::string> label_names,
                      std::function<std::unique_ptr<T>()> make);

  mutable std::mutex mu_;
  // GUARDED_BY(mu_) all:
  std::map<std::string, std::unique_ptr<Family<Counter>>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>, std::less<>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>, std::less<>> histograms_;
  std::map<uint64_t, std::function<void(Exposition&)>> collectors_;
  uint64_t next_collector_ = 1;
};

// The process-wide registry GET /metrics renders.
Registry& Global();

// Registers the standard process metrics (process_resident_memory_bytes, process_open_fds,
// process_max_fds, process_cpu_seconds_total, process_start_time_seconds) on `registry`, read
// from /proc at each scrape.
[[nodiscard]] CollectorHandle AddProcessCollector(Registry& registry);

// Formats a sample value as Prometheus expects (integers without exponent, +Inf, NaN).
std::string FormatValue(double value);

}  // namespace imgpipe::metrics
