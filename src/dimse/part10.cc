// Part 10 framing of a data set received over the network, and the listener's metrics.
#include <cstdint>

#include "dimse/scp_internal.h"

namespace imgpipe::dimse::internal {
namespace {

// imgpipe's implementation class UID (under the UUID-derived 2.25 root) and version name.
constexpr std::string_view kImplementationClassUid = "2.25.163014452950318419262466924411209856";
constexpr std::string_view kImplementationVersion = "IMGPIPE_DIMSE";

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string& out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v & 0xffff));
  PutU16(out, static_cast<uint16_t>(v >> 16));
}

// One explicit VR little endian element with a 16-bit length, padded to even length with `pad`.
void PutShort(std::string& out, uint16_t element, std::string_view vr, std::string_view value,
              char pad) {
  std::string v(value);
  if (v.size() % 2 != 0) v.push_back(pad);
  PutU16(out, 0x0002);
  PutU16(out, element);
  out.append(vr);
  PutU16(out, static_cast<uint16_t>(v.size()));
  out.append(v);
}

}  // namespace

std::string FramePart10(std::string_view sop_class_uid, std::string_view sop_instance_uid,
                        std::string_view transfer_syntax_uid, std::string_view source_aet,
                        std::string_view dataset) {
  std::string meta;
  // (0002,0001) FileMetaInformationVersion OB 00\01
  PutU16(meta, 0x0002);
  PutU16(meta, 0x0001);
  meta.append("OB");
  PutU16(meta, 0);
  PutU32(meta, 2);
  meta.push_back('\0');
  meta.push_back('\1');
  PutShort(meta, 0x0002, "UI", sop_class_uid, '\0');
  PutShort(meta, 0x0003, "UI", sop_instance_uid, '\0');
  PutShort(meta, 0x0010, "UI", transfer_syntax_uid, '\0');
  PutShort(meta, 0x0012, "UI", kImplementationClassUid, '\0');
  PutShort(meta, 0x0013, "SH", kImplementationVersion, ' ');
  if (!source_aet.empty()) PutShort(meta, 0x0016, "AE", source_aet, ' ');

  std::string out(128, '\0');
  out.reserve(128 + 4 + 12 + meta.size() + dataset.size());
  out.append("DICM");
  // (0002,0000) FileMetaInformationGroupLength UL
  PutU16(out, 0x0002);
  PutU16(out, 0x0000);
  out.append("UL");
  PutU16(out, 4);
  PutU32(out, static_cast<uint32_t>(meta.size()));
  out.append(meta);
  out.append(dataset);
  return out;
}

ScpMetrics& Metrics() {
  static ScpMetrics* m = [] {
    auto& r = metrics::Global();
    auto& assoc = r.CounterFamily("imgpipe_dimse_associations_total",
                                  "DICOM associations received, by outcome", {"result"});
    auto& inst = r.CounterFamily("imgpipe_dimse_instances_total",
                                 "C-STORE requests received, by outcome", {"result"});
    auto& finds = r.CounterFamily("imgpipe_dimse_finds_total",
                                  "C-FIND requests received, by outcome", {"result"});
    return new ScpMetrics{
        assoc.Labels({"accepted"}),
        assoc.Labels({"rejected"}),
        inst.Labels({"stored"}),
        inst.Labels({"failed"}),
        finds.Labels({"ok"}),
        finds.Labels({"failed"}),
        r.CounterFamily("imgpipe_dimse_echoes_total", "C-ECHO requests answered").Get(),
        r.GaugeFamily("imgpipe_dimse_active_associations", "DICOM associations being served").Get(),
    };
  }();
  return *m;
}

}  // namespace imgpipe::dimse::internal
