// The worker pool: for each algorithm, `concurrency` threads receive jobs from "algo.{name}", run
// the algorithm on the job's images and publish the outcome (DESIGN.md "Data flow").
//
// Per message, in this order (so a crash at any point loses nothing and publishes once):
//   1. StartRun: the job becomes "running" (a missing or terminal job: the message is just
//      acknowledged; a redelivery after a crash that followed Finish lands here).
//   2. The input: the job's image, or every image of its series / study (instance number
//      order), read through the PACS; frame 1 of each.
//   3. The algorithm runs (series and study jobs: several images at once, up to
//      `image_parallelism`, with a progress event after each image) while a heartbeat extends the
//      message's visibility. Cancel (in this process at once, from another process within
//      `heartbeat`) stops the run; an external program is killed.
//   4. Outputs go to the blob store under results/{job_id}/ and are durable before step 5:
//      image.png (the result windowed to 8 bits), result.dcm (the algorithm's own DICOM, or a
//      derived Secondary Capture in a new series of the source's study referencing the source),
//      mask.png and overlay.png when the algorithm makes them, log.txt when it logs; for series
//      and study jobs the same per image under {n}/ (n = 1..total) and manifest.json. With
//      masks, also a binary DICOM SEG in its own series of the source's study, at the top
//      level: seg.dcm (image job: one frame; series job: one frame per image, instance number
//      order), or seg-{k}.dcm per series of a study job (k in input order), each listed in the
//      outputs and in manifest.json's "segmentations".
//   5. JobService::Finish: the job's outcome, its result message on "results" (dedup id = job
//      id) and the deletion of the request message, in one transaction: an outcome is never
//      recorded with its request left to run again, nor the request deleted without it.
// Failures: InvalidArgument, NotFound, Unprocessable, UnsupportedMediaType and PayloadTooLarge
// fail the job at once (retrying cannot help); any other error is retried: the job goes back to
// "queued" and the message becomes visible again after a backoff (1 s, doubling, at most 60 s).
// The delivery that reaches the queue's max_receive_count fails the job and leaves the message to
// be dead-lettered. Messages dead-lettered without a verdict (the process died on every attempt)
// are found by a sweep of the dead-letter queues, and their jobs failed.
//
// Thread-safety: Start and Stop from one thread; the pool's threads are its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "algorithms/algorithms.h"
#include "blob/blob_store.h"
#include "core/status.h"
#include "jobs/jobs.h"
#include "pacs/pacs.h"
#include "queue/queue.h"

namespace imgpipe::jobs {

struct WorkerOptions {
  // The algorithms this process works for (names or aliases); empty = all of the registry.
  std::vector<std::string> algorithms;
  int concurrency = 2;  // receiving threads per algorithm, 1..64
  // Images of one series / study job processed at once; 0 = the number of cores.
  int image_parallelism = 0;
  // Long-poll wait of each receive; also the longest a Stop waits for an idle thread.
  std::chrono::milliseconds poll_wait{1'000};
  // How often running jobs are checked for cancellation by other processes and their messages'
  // visibility extended (when a third of the queue's visibility timeout has passed).
  std::chrono::milliseconds heartbeat{500};
  // How often the dead-letter queues are swept for jobs left without a verdict.
  std::chrono::milliseconds dead_letter_sweep{10'000};
  // The first retry's backoff; doubles per attempt up to max_backoff.
  std::chrono::milliseconds backoff{1'000};
  std::chrono::milliseconds max_backoff{60'000};
};

class WorkerPool {
 public:
  // Starts the threads. NotFound for an unknown algorithm name. `jobs`, `queues`, `pacs`,
  // `blobs` and `registry` must outlive the pool. Registers itself as jobs' cancel listener.
  static core::Result<std::unique_ptr<WorkerPool>> Start(JobService& jobs,
                                                         queue::QueueService& queues,
                                                         pacs::Pacs& pacs, blob::BlobStore& blobs,
                                                         const algorithms::Registry& registry,
                                                         const WorkerOptions& options);
  // Stops receiving; runs in progress are interrupted and their messages made visible again at
  // once (another worker, or this one after a restart, runs them). Idempotent.
  void Stop();
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  class Impl;

 private:
  explicit WorkerPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgpipe::jobs
