// The DICOM listener of `imgpipe serve` (api role): dimse::Listener wired to the PACS. Received
// instances take the HTTP upload's ingest path; C-FIND is answered from the PACS index.
#pragma once

#include <memory>
#include <string>

#include "app/config.h"
#include "core/status.h"
#include "dimse/dimse.h"
#include "pacs/pacs.h"

namespace imgpipe::app {

struct DicomListener {
  std::unique_ptr<dimse::Listener> listener;
  std::string host;
  int port = 0;
};

// Starts the listener on config.dicom_listen (HOST:PORT) as config.dicom_aet, refusing instances
// larger than `max_instance_bytes`. `pacs` must outlive it. InvalidArgument for bad settings,
// Unavailable when the address cannot be bound.
core::Result<DicomListener> StartDicomListener(const Config& config, pacs::Pacs& pacs,
                                               size_t max_instance_bytes);

// The C-FIND answer from the PACS index (exposed for tests). Keys pushed down to the index
// queries: STUDY: StudyInstanceUID (list), PatientID, PatientName (wildcards), AccessionNumber,
// StudyDate (date or range), ModalitiesInStudy; SERIES needs StudyInstanceUID, IMAGE needs
// StudyInstanceUID and SeriesInstanceUID. Every other key with a value that the answer carries
// is matched on the answer (exact, * and ? wildcards, a\b lists, A-B ranges for dates and times);
// keys the index does not hold are returned empty and do not filter.
core::Result<std::vector<dimse::FindMatch>> FindInPacs(pacs::Pacs& pacs,
                                                       const dimse::FindQuery& query);

}  // namespace imgpipe::app
