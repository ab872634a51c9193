// The client's jobs as the page knows them, merged from three sources that may arrive in any
// order: the POST that queued a job, the WebSocket's events, and polls of /api/jobs (the fallback
// when the socket is down). Merging is idempotent and never moves a job backwards: a finished job
// stays finished whatever a stale poll says.
import type { ExportStatus, Job, JobExport, JobStatus } from './api';
import type { MessageKey, Translate } from './i18n';
import type { PushEvent } from './push';

export interface JobsState {
  byId: Record<string, Job>;
  order: string[]; // newest first
}

export const emptyJobs: JobsState = { byId: {}, order: [] };

const rank: Record<JobStatus, number> = {
  queued: 0,
  running: 1,
  succeeded: 2,
  failed: 2,
  cancelled: 2,
};

export const isTerminal = (s: JobStatus) => rank[s] === 2;

export function mergeJob(state: JobsState, update: Partial<Job> & { job_id: string }): JobsState {
  const old = state.byId[update.job_id];
  let merged: Job;
  if (!old) {
    merged = { status: 'queued', algorithm: '', study_id: '', scope: 'image', ...update } as Job;
  } else if (isTerminal(old.status) && update.status && !isTerminal(update.status)) {
    return state; // stale: the job already finished
  } else {
    // running -> queued happens for real (a retry waits), so only terminal states are sticky.
    merged = { ...old, ...update };
    if (old.exports && update.exports) merged.exports = mergeExports(old.exports, update.exports);
  }
  const order = old
    ? state.order
    : insertByCreation(state.order, state.byId, merged);
  return { byId: { ...state.byId, [merged.job_id]: merged }, order };
}

function insertByCreation(order: string[], byId: Record<string, Job>, job: Job): string[] {
  const created = job.created_at_ms ?? Number.MAX_SAFE_INTEGER;
  const i = order.findIndex((id) => (byId[id].created_at_ms ?? Number.MAX_SAFE_INTEGER) < created);
  return i < 0 ? [...order, job.job_id] : [...order.slice(0, i), job.job_id, ...order.slice(i)];
}

export function mergeJobs(state: JobsState, jobs: Job[]): JobsState {
  return jobs.reduce(mergeJob, state);
}

// Final export statuses: nothing moves an export out of them.
const finalExport: ReadonlySet<ExportStatus> = new Set(['sent', 'failed', 'skipped']);

// Per destination, the newer news wins: a final status over any other, else the later
// `updated_at_ms` (an entry without one, from the POST or an event, counts as newest). A
// destination only one side knows is kept.
export function mergeExports(old: JobExport[], update: JobExport[]): JobExport[] {
  const out = old.map((e) => ({ ...e }));
  for (const u of update) {
    const i = out.findIndex((e) => e.destination === u.destination);
    if (i < 0) {
      out.push(u);
      continue;
    }
    const o = out[i];
    if (finalExport.has(o.status) && !finalExport.has(u.status)) continue;
    if (!finalExport.has(u.status) && (o.updated_at_ms ?? 0) > (u.updated_at_ms ?? Infinity)) continue;
    out[i] = { ...o, ...u };
  }
  return out;
}

export function applyEvent(state: JobsState, event: PushEvent): JobsState {
  if (event.type === 'export') {
    if (typeof event.destination !== 'string') return state;
    const entry: JobExport = {
      destination: event.destination,
      status: event.status as ExportStatus,
      error: typeof event.error === 'string' && event.error ? event.error : null,
    };
    if (typeof event.sent === 'number') entry.sent = event.sent;
    const old = state.byId[event.job_id];
    if (!old) {
      // The job's own details follow (the page fetches them); the export is kept meanwhile.
      return mergeJob(state, { job_id: event.job_id, status: 'succeeded', exports: [entry] });
    }
    return mergeJob(state, { job_id: event.job_id, exports: [entry] });
  }
  if (event.type === 'progress') {
    const done = Number(event.done);
    const total = Number(event.total);
    const old = state.byId[event.job_id];
    if (old && isTerminal(old.status)) return state;
    return mergeJob(state, { job_id: event.job_id, status: 'running', progress: { done, total } });
  }
  const update: Partial<Job> & { job_id: string } = {
    job_id: event.job_id,
    status: event.status as JobStatus,
  };
  if (typeof event.algorithm === 'string') update.algorithm = event.algorithm;
  if (event.outputs) update.outputs = event.outputs as Record<string, string>;
  if (event.error) update.error = event.error as Job['error'];
  if (typeof event.duration_ms === 'number') update.duration_ms = event.duration_ms;
  if (update.status === 'succeeded') {
    const old = state.byId[event.job_id];
    if (old?.progress) update.progress = { done: old.progress.total, total: old.progress.total };
  }
  return mergeJob(state, update);
}

// One export as the results list shows it: "pacs: sent (31)", "pacs: failed - <error>",
// "pacs: retrying - <error>", "pacs: queued".
export function exportText(e: JobExport, t: Translate): string {
  const status = t(('export.status.' + e.status) as MessageKey);
  if (e.status === 'sent' && typeof e.sent === 'number')
    return t('export.line_sent', { destination: e.destination, status, sent: e.sent });
  if (e.error && (e.status === 'failed' || e.status === 'retrying'))
    return t('export.line_error', { destination: e.destination, status, error: e.error });
  return t('export.line', { destination: e.destination, status });
}
