#include "pacs/index.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace imgpipe::pacs {
namespace {

using core::Result;
using core::Status;
using db::Value;

// Schema steps: one statement each, applied once (db::Migrate). Append; never edit.
constexpr std::array<std::string_view, 10> kSchema = {
    "CREATE TABLE pacs_studies ("
    " study_uid TEXT PRIMARY KEY, patient_id TEXT NOT NULL, patient_name TEXT NOT NULL,"
    " patient_name_key TEXT NOT NULL, patient_birth_date TEXT NOT NULL,"
    " patient_sex TEXT NOT NULL, study_date TEXT NOT NULL, study_time TEXT NOT NULL,"
    " description TEXT NOT NULL, accession_number TEXT NOT NULL, study_number TEXT NOT NULL,"
    " referring_physician TEXT NOT NULL, modalities TEXT NOT NULL,"
    " series_count INTEGER NOT NULL, image_count INTEGER NOT NULL)",
    "CREATE TABLE pacs_series ("
    " series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, modality TEXT NOT NULL,"
    " description TEXT NOT NULL, series_number INTEGER NOT NULL, body_part TEXT NOT NULL,"
    " image_count INTEGER NOT NULL)",
    "CREATE TABLE pacs_instances ("
    " sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL,"
    " sop_class_uid TEXT NOT NULL, transfer_syntax TEXT NOT NULL, photometric TEXT NOT NULL,"
    " instance_number INTEGER NOT NULL, rows_ INTEGER NOT NULL, columns_ INTEGER NOT NULL,"
    " frames INTEGER NOT NULL, bits_allocated INTEGER NOT NULL, size_bytes INTEGER NOT NULL,"
    " blob_key TEXT NOT NULL)",
    "CREATE INDEX pacs_series_by_study ON pacs_series(study_uid, series_number)",
    "CREATE INDEX pacs_instances_by_series ON pacs_instances(series_uid, instance_number)",
    "CREATE INDEX pacs_studies_by_date ON pacs_studies(study_date)",
    "CREATE INDEX pacs_studies_by_patient ON pacs_studies(patient_id)",
    // The study list's order, so a page is read in order instead of sorted per request.
    "CREATE INDEX pacs_studies_by_recency ON pacs_studies(study_date DESC, study_time DESC,"
    " study_uid)",
    // Automatic processing rules: when a series last received a new instance (Unix ms), so
    // "quiet for N seconds" is one indexed range query. 0 for series indexed before this step.
    "ALTER TABLE pacs_series ADD COLUMN last_ingest_ms INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX pacs_series_by_last_ingest ON pacs_series(last_ingest_ms)",
};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> SplitModalities(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\\', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

constexpr std::string_view kStudyColumns =
    "study_uid, patient_id, patient_name, patient_birth_date, patient_sex, study_date, "
    "study_time, description, accession_number, study_number, referring_physician, modalities, "
    "series_count, image_count";

StudyRecord StudyFromRow(const db::Row& r) {
  StudyRecord s;
  s.study_id = r.Text(0);
  s.patient_id = r.Text(1);
  s.patient_name = r.Text(2);
  s.patient_birth_date = r.Text(3);
  s.patient_sex = r.Text(4);
  s.study_date = r.Text(5);
  s.study_time = r.Text(6);
  s.description = r.Text(7);
  s.accession_number = r.Text(8);
  s.study_number = r.Text(9);
  s.referring_physician_name = r.Text(10);
  s.modalities = SplitModalities(r.Text(11));
  s.series_count = r.Int(12);
  s.image_count = r.Int(13);
  return s;
}

constexpr std::string_view kSeriesColumns =
    "series_uid, study_uid, modality, description, body_part, series_number, image_count";

SeriesRecord SeriesFromRow(const db::Row& r) {
  SeriesRecord s;
  s.series_id = r.Text(0);
  s.study_id = r.Text(1);
  s.modality = r.Text(2);
  s.description = r.Text(3);
  s.body_part_examined = r.Text(4);
  s.series_number = r.Int(5);
  s.image_count = r.Int(6);
  return s;
}

constexpr std::string_view kInstanceColumns =
    "sop_uid, series_uid, study_uid, sop_class_uid, transfer_syntax, photometric, "
    "instance_number, rows_, columns_, frames, bits_allocated, size_bytes, blob_key";

InstanceRecord InstanceFromRow(const db::Row& r) {
  InstanceRecord i;
  i.image_id = r.Text(0);
  i.series_id = r.Text(1);
  i.study_id = r.Text(2);
  i.sop_class_uid = r.Text(3);
  i.transfer_syntax_uid = r.Text(4);
  i.photometric_interpretation = r.Text(5);
  i.instance_number = r.Int(6);
  i.rows = r.Int(7);
  i.columns = r.Int(8);
  i.frames = r.Int(9);
  i.bits_allocated = r.Int(10);
  i.size_bytes = r.Int(11);
  i.blob_key = r.Text(12);
  return i;
}

std::string Sql(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string s(a);
  s += b;
  s += c;
  return s;
}

}  // namespace

std::string WildcardToLike(std::string_view pattern) {
  std::string out;
  for (char c : pattern) {
    switch (c) {
      case '*':
        out += '%';
        break;
      case '?':
        out += '_';
        break;
      case '%':
      case '_':
      case '\\':
        out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

Status Index::Migrate() { return db::Migrate(db_, "pacs", kSchema); }

std::vector<Result<IngestOutcome>> Index::AddBatch(const std::vector<NewInstance>& batch) {
  auto all_in_one = [this, &batch]() -> Result<std::vector<Result<IngestOutcome>>> {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
    std::vector<Result<IngestOutcome>> results;
    results.reserve(batch.size());
    for (const NewInstance& n : batch) {
      auto r = AddInTx(*tx, *n.info, n.blob_key, n.size_bytes);
      // A conflict is this file's answer; any other error aborted the transaction.
      if (!r.ok() && r.status().code() != core::StatusCode::kConflict) return r.status();
      results.push_back(std::move(r));
    }
    IMGPIPE_RETURN_IF_ERROR(tx->Commit());
    return results;
  };
  if (batch.size() > 1) {
    auto results = all_in_one();
    if (results.ok()) return std::move(results).value();
  }
  std::vector<Result<IngestOutcome>> results;
  for (const NewInstance& n : batch) {
    results.push_back([&]() -> Result<IngestOutcome> {
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kWrite));
      IMGPIPE_ASSIGN_OR_RETURN(IngestOutcome outcome,
                               AddInTx(*tx, *n.info, n.blob_key, n.size_bytes));
      if (outcome == IngestOutcome::kStored) IMGPIPE_RETURN_IF_ERROR(tx->Commit());
      return outcome;
    }());
  }
  return results;
}

Result<IngestOutcome> Index::AddInTx(db::Transaction& txr, const dicom::InstanceInfo& info,
                                     std::string_view blob_key, int64_t size_bytes) {
  db::Transaction* tx = &txr;
  {
    Value key[] = {info.sop_instance_uid};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows,
        tx->Query("SELECT study_uid, series_uid FROM pacs_instances WHERE sop_uid = ?", key));
    if (!rows.empty()) {
      if (rows[0].Text(0) != info.study_instance_uid ||
          rows[0].Text(1) != info.series_instance_uid) {
        return Status::Conflict("SOPInstanceUID " + info.sop_instance_uid +
                                " is already stored under another study or series");
      }
      return IngestOutcome::kAlreadyStored;
    }
  }
  {
    // A series belongs to one study; a file that says otherwise is rejected, not re-filed.
    Value key[] = {info.series_instance_uid};
    IMGPIPE_ASSIGN_OR_RETURN(
        auto rows, tx->Query("SELECT study_uid FROM pacs_series WHERE series_uid = ?", key));
    if (!rows.empty() && rows[0].Text(0) != info.study_instance_uid) {
      return Status::Conflict("SeriesInstanceUID " + info.series_instance_uid +
                              " is already stored under another study");
    }
  }
  Value instance[] = {info.sop_instance_uid,         info.series_instance_uid,
                      info.study_instance_uid,       info.sop_class_uid,
                      info.transfer_syntax_uid,      info.photometric_interpretation,
                      int64_t{info.instance_number}, int64_t{info.rows},
                      int64_t{info.columns},         int64_t{info.number_of_frames},
                      int64_t{info.bits_allocated},  size_bytes,
                      std::string(blob_key)};
  IMGPIPE_RETURN_IF_ERROR(tx->Exec(Sql("INSERT INTO pacs_instances (", kInstanceColumns,
                                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
                                   instance)
                              .status());

  const int64_t now = now_ms_();
  Value series[] = {info.series_instance_uid,
                    info.study_instance_uid,
                    info.modality,
                    info.series_description,
                    info.body_part_examined,
                    int64_t{info.series_number},
                    now};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t new_series,
      tx->Exec("INSERT INTO pacs_series (series_uid, study_uid, modality, description, body_part,"
               " series_number, image_count, last_ingest_ms) VALUES (?,?,?,?,?,?,1,?)"
               " ON CONFLICT (series_uid) DO NOTHING",
               series));
  if (new_series == 0) {
    // Never backwards: processes with slightly different clocks share one index.
    Value key[] = {now, now, info.series_instance_uid};
    IMGPIPE_RETURN_IF_ERROR(
        tx->Exec("UPDATE pacs_series SET image_count = image_count + 1,"
                 " last_ingest_ms = CASE WHEN last_ingest_ms < ? THEN ? ELSE last_ingest_ms END"
                 " WHERE series_uid = ?",
                 key)
            .status());
  }

  Value study[] = {
      info.study_instance_uid,  info.patient_id,         info.patient_name,
      Upper(info.patient_name), info.patient_birth_date, info.patient_sex,
      info.study_date,          info.study_time,         info.study_description,
      info.accession_number,    info.study_id,           info.referring_physician_name};
  IMGPIPE_ASSIGN_OR_RETURN(
      int64_t new_study,
      tx->Exec("INSERT INTO pacs_studies (study_uid, patient_id, patient_name, patient_name_key,"
               " patient_birth_date, patient_sex, study_date, study_time, description,"
               " accession_number, study_number, referring_physician, modalities, series_count,"
               " image_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'',0,0)"
               " ON CONFLICT (study_uid) DO NOTHING",
               study));
  (void)new_study;
  Value study_key[] = {info.study_instance_uid};
  IMGPIPE_ASSIGN_OR_RETURN(auto mods,
                           tx->Query("SELECT DISTINCT modality FROM pacs_series WHERE study_uid = ?"
                                     " AND modality <> '' ORDER BY modality",
                                     study_key));
  std::string modalities;
  for (const auto& m : mods) {
    if (!modalities.empty()) modalities += '\\';
    modalities += m.Text(0);
  }
  Value update[] = {modalities, int64_t{new_series != 0 ? 1 : 0}, info.study_instance_uid};
  IMGPIPE_RETURN_IF_ERROR(
      tx->Exec("UPDATE pacs_studies SET modalities = ?, series_count = series_count + ?,"
               " image_count = image_count + 1 WHERE study_uid = ?",
               update)
          .status());
  return IngestOutcome::kStored;
}

Result<Page<StudyRecord>> Index::FindStudies(const StudyQuery& q) {
  std::string where = " WHERE 1=1";
  std::vector<Value> params;
  if (!q.study_uids.empty()) {
    where += " AND study_uid IN (";
    for (size_t i = 0; i < q.study_uids.size(); ++i) {
      where += i ? ",?" : "?";
      params.emplace_back(q.study_uids[i]);
    }
    where += ")";
  }
  if (!q.patient_id.empty()) {
    where += " AND patient_id LIKE ? ESCAPE '\\'";
    params.emplace_back(WildcardToLike(q.patient_id));
  }
  if (!q.patient_name.empty()) {
    where += " AND patient_name_key LIKE ? ESCAPE '\\'";
    params.emplace_back(WildcardToLike(Upper(q.patient_name)));
  }
  if (!q.accession_number.empty()) {
    where += " AND accession_number LIKE ? ESCAPE '\\'";
    params.emplace_back(WildcardToLike(q.accession_number));
  }
  if (!q.study_date_from.empty()) {
    where += " AND study_date >= ?";
    params.emplace_back(q.study_date_from);
  }
  if (!q.study_date_to.empty()) {
    where += " AND study_date <= ? AND study_date <> ''";
    params.emplace_back(q.study_date_to);
  }
  if (!q.modalities.empty()) {
    where += " AND study_uid IN (SELECT study_uid FROM pacs_series WHERE modality IN (";
    for (size_t i = 0; i < q.modalities.size(); ++i) {
      where += i ? ",?" : "?";
      params.emplace_back(q.modalities[i]);
    }
    where += "))";
  }
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  Page<StudyRecord> page;
  page.limit = q.limit;
  page.offset = q.offset;
  page.total = -1;
  if (q.count_total) {
    IMGPIPE_ASSIGN_OR_RETURN(auto count,
                             tx->Query("SELECT COUNT(*) FROM pacs_studies" + where, params));
    page.total = count.empty() ? 0 : count[0].Int(0);
  }
  std::vector<Value> page_params = params;
  page_params.emplace_back(int64_t{q.limit});
  page_params.emplace_back(int64_t{q.offset});
  IMGPIPE_ASSIGN_OR_RETURN(auto rows,
                           tx->Query(Sql("SELECT ", kStudyColumns,
                                         " FROM pacs_studies" + where +
                                             " ORDER BY study_date DESC, study_time DESC, study_uid"
                                             " LIMIT ? OFFSET ?"),
                                     page_params));
  page.items.reserve(rows.size());
  for (const auto& r : rows) page.items.push_back(StudyFromRow(r));
  return page;
}

Result<StudyRecord> Index::GetStudy(std::string_view study) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  Value key[] = {std::string(study)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx->Query(Sql("SELECT ", kStudyColumns, " FROM pacs_studies WHERE study_uid = ?"), key));
  if (rows.empty()) return Status::NotFound("no study " + std::string(study));
  return StudyFromRow(rows[0]);
}

Result<std::vector<SeriesRecord>> Index::ListSeries(std::string_view study) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  Value key[] = {std::string(study)};
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query(Sql("SELECT ", kSeriesColumns,
                                                    " FROM pacs_series WHERE study_uid = ?"
                                                    " ORDER BY series_number, series_uid"),
                                                key));
  std::vector<SeriesRecord> out;
  for (const auto& r : rows) out.push_back(SeriesFromRow(r));
  return out;
}

Result<SeriesRecord> Index::GetSeries(std::string_view study, std::string_view series) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  Value key[] = {std::string(series), std::string(study)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx->Query(Sql("SELECT ", kSeriesColumns,
                               " FROM pacs_series WHERE series_uid = ? AND study_uid = ?"),
                           key));
  if (rows.empty()) {
    return Status::NotFound("no series " + std::string(series) + " in study " + std::string(study));
  }
  return SeriesFromRow(rows[0]);
}

Result<std::vector<InstanceRecord>> Index::ListInstances(std::string_view study,
                                                         std::string_view series) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  std::vector<Value> key;
  std::string where;
  if (series.empty()) {
    where = " WHERE study_uid = ? ORDER BY series_uid, instance_number, sop_uid";
    key = {std::string(study)};
  } else {
    where = " WHERE series_uid = ? AND study_uid = ? ORDER BY instance_number, sop_uid";
    key = {std::string(series), std::string(study)};
  }
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows, tx->Query(Sql("SELECT ", kInstanceColumns, " FROM pacs_instances" + where), key));
  std::vector<InstanceRecord> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(InstanceFromRow(r));
  return out;
}

Result<InstanceRecord> Index::GetInstance(std::string_view study, std::string_view series,
                                          std::string_view image) {
  IMGPIPE_ASSIGN_OR_RETURN(auto found, FindInstance(image));
  if (!found || found->study_id != study || found->series_id != series) {
    return Status::NotFound("no image " + std::string(image) + " in series " + std::string(series) +
                            " of study " + std::string(study));
  }
  return *found;
}

Result<std::optional<InstanceRecord>> Index::FindInstance(std::string_view image) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  Value key[] = {std::string(image)};
  IMGPIPE_ASSIGN_OR_RETURN(
      auto rows,
      tx->Query(Sql("SELECT ", kInstanceColumns, " FROM pacs_instances WHERE sop_uid = ?"), key));
  if (rows.empty()) return std::optional<InstanceRecord>();
  return std::optional<InstanceRecord>(InstanceFromRow(rows[0]));
}

Result<int64_t> Index::CountInstances() {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  IMGPIPE_ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT COUNT(*) FROM pacs_instances"));
  return rows.empty() ? int64_t{0} : rows[0].Int(0);
}

}  // namespace imgpipe::pacs
