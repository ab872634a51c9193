#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "metrics/metrics.h"

namespace imgpipe::metrics {
namespace {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void AppendEscaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

void AppendSample(std::string& out, std::string_view name, const LabelPairs& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i].first;
      out += "=\"";
      AppendEscaped(out, labels[i].second, /*quotes=*/true);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}

LabelPairs PairsOf(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  LabelPairs pairs;
  for (size_t i = 0; i < names.size(); ++i) pairs.emplace_back(names[i], values[i]);
  return pairs;
}

void RenderChild(std::string& out, std::string_view name, const LabelPairs& labels,
                 const Counter& c) {
  AppendSample(out, name, labels, c.Value());
}
void RenderChild(std::string& out, std::string_view name, const LabelPairs& labels,
                 const Gauge& g) {
  AppendSample(out, name, labels, g.Value());
}
void RenderChild(std::string& out, std::string_view name, const LabelPairs& labels,
                 const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    LabelPairs with_le = labels;
    with_le.emplace_back("le", i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf");
    AppendSample(out, bucket, with_le, static_cast<double>(s.cumulative[i]));
  }
  AppendSample(out, std::string(name) + "_sum", labels, s.sum);
  AppendSample(out, std::string(name) + "_count", labels, static_cast<double>(s.count));
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::to_chars_result r;
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
  } else {
    // Shortest round-trip form; "general" keeps 0.0005 (a bucket bound) out of exponent form.
    r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
  }
  return std::string(buf, r.ptr);
}

void Exposition::Add(std::string_view name, std::string_view help, Type type,
                     std::vector<Sample> samples) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), FamilyText{std::string(help), type, {}}).first;
  }
  for (const Sample& s : samples) AppendSample(it->second.samples, name, s.labels, s.value);
}

void Exposition::Add(std::string_view name, std::string_view help, Type type, double value) {
  Add(name, help, type, std::vector<Sample>{Sample{{}, value}});
}

template <typename T>
T& Family<T>::Labels(std::initializer_list<std::string_view> values) {
  std::vector<std::string> key(values.begin(), values.end());
  if (key.size() != label_names_.size()) {
    throw std::logic_error("metric " + name_ + " takes " + std::to_string(label_names_.size()) +
                           " label values, got " + std::to_string(key.size()));
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) it = children_.emplace(std::move(key), make_()).first;
  return *it->second;
}

template <typename T>
void Family<T>::Render(Exposition& out) const {
  auto& family = out.families_[name_];
  family.help = help_;
  family.type = type_;
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    RenderChild(family.samples, name_, PairsOf(label_names_, values), *child);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void CollectorHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCollector(id_);
  registry_ = nullptr;
}

template <typename T>
Family<T>& Registry::FamilyOf(
    std::map<std::string, std::unique_ptr<Family<T>>, std::less<>>& families, std::string_view name,
    std::string_view help, Type type, std::vector<std::string> label_names,
    std::function<std::unique_ptr<T>()> make) {
  std::lock_guard lock(mu_);
  if (auto it = families.find(name); it != families.end()) {
    if (it->second->label_names_ != label_names) {
      throw std::logic_error("metric " + std::string(name) + " registered with other labels");
    }
    return *it->second;
  }
  const bool taken =
      counters_.contains(name) || gauges_.contains(name) || histograms_.contains(name);
  if (taken) throw std::logic_error("metric " + std::string(name) + " registered as another kind");
  auto family = std::unique_ptr<Family<T>>(new Family<T>(std::string(name), std::string(help), type,
                                                         std::move(label_names), std::move(make)));
  return *families.emplace(std::string(name), std::move(family)).first->second;
}

Family<Counter>& Registry::CounterFamily(std::string_view name, std::string_view help,
                                         std::vector<std::string> label_names) {
  return FamilyOf<Counter>(counters_, name, help, Type::kCounter, std::move(label_names),
                           [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::GaugeFamily(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names) {
  return FamilyOf<Gauge>(gauges_, name, help, Type::kGauge, std::move(label_names),
                         [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::HistogramFamily(std::string_view name, std::string_view help,
                                             std::vector<std::string> label_names,
                                             std::vector<double> bounds) {
  return FamilyOf<Histogram>(
      histograms_, name, help, Type::kHistogram, std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
}

CollectorHandle Registry::AddCollector(std::function<void(Exposition&)> collect) {
  std::lock_guard lock(mu_);
  uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collect));
  return CollectorHandle(this, id);
}

void Registry::RemoveCollector(uint64_t id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  Exposition exposition;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : counters_) family->Render(exposition);
    for (const auto& [name, family] : gauges_) family->Render(exposition);
    for (const auto& [name, family] : histograms_) family->Render(exposition);
    for (const auto& [id, collect] : collectors_) collect(exposition);
  }
  std::string out;
  for (const auto& [name, family] : exposition.families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, family.help, /*quotes=*/false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += TypeName(family.type);
    out += '\n';
    out += family.samples;
  }
  return out;
}

Registry& Global() {
  static Registry* registry = new Registry();  // never destroyed: used until the process exits
  return *registry;
}

}  // namespace imgpipe::metrics
