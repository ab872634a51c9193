// The index's view for automatic processing rules: series by the time of their last new instance.
#include <string>

#include "pacs/index.h"

namespace imgpipe::pacs {

core::Result<std::vector<SeriesActivity>> Index::ListSeriesIngestedBetween(int64_t from_ms,
                                                                           int64_t to_ms,
                                                                           int limit) {
  if (limit < 1 || limit > 1000) {
    return core::Status::InvalidArgument("limit must be within 1..1000");
  }
  std::vector<SeriesActivity> out;
  if (from_ms > to_ms) return out;
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  db::Value params[] = {from_ms, to_ms, int64_t{limit}};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx->Query("SELECT se.series_uid, se.study_uid, se.modality, se.body_part, se.description,"
                " st.description, se.last_ingest_ms"
                " FROM pacs_series se JOIN pacs_studies st ON st.study_uid = se.study_uid"
                " WHERE se.last_ingest_ms >= ? AND se.last_ingest_ms <= ?"
                " ORDER BY se.last_ingest_ms, se.series_uid LIMIT ?",
                params));
  out.reserve(rows.size());
  for (const db::Row& r : rows) {
    SeriesActivity a;
    a.series_id = r.Text(0);
    a.study_id = r.Text(1);
    a.modality = r.Text(2);
    a.body_part_examined = r.Text(3);
    a.series_description = r.Text(4);
    a.study_description = r.Text(5);
    a.last_ingest_ms = r.Int(6);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace imgpipe::pacs
