// Typed calls to imgpipe's HTTP API (docs/api.md). Every failure becomes an ApiError carrying the
// server's {"error":{"code","message"}} so the UI can show the server's own words. Every call
// sends the page's API key or JWT when it has one (credentials.ts).
import { credentials, withAccessToken } from './credentials';

// Where a PACS record lives: imgpipe's own store, or the upstream DICOMweb PACS it proxies.
export type Source = 'local' | 'upstream';

export interface Ids {
  study_id: string;
  series_id: string;
  image_id: string;
  scope: Scope;
}
export type Scope = 'image' | 'series' | 'study';

export interface StudySummary {
  study_id: string;
  patient_id: string;
  patient_name: string;
  study_date: string;
  description: string;
  modalities: string[];
  series_count: number;
  image_count: number;
  source?: Source;
}
export interface SeriesSummary {
  series_id: string;
  modality: string;
  description: string;
  series_number?: number;
  image_count: number;
  source?: Source;
}
export interface ImageSummary {
  image_id: string;
  instance_number?: number;
  rows: number;
  columns: number;
  frames: number;
  source?: Source;
}
export interface Study extends StudySummary {
  series: SeriesSummary[];
}
export interface Series extends SeriesSummary {
  images: ImageSummary[];
}

export interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}
export interface Algorithm {
  name: string;
  description: string;
  params: JsonSchema;
  modalities: string[];
  scopes: Scope[];
  alias_of?: string;
  queue: string;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export interface JobError {
  code: string;
  message: string;
}
// One export destination's status in a job (docs/api.md "Exports").
export type ExportStatus =
  | 'waiting'
  | 'queued'
  | 'sending'
  | 'retrying'
  | 'sent'
  | 'failed'
  | 'skipped';
export interface JobExport {
  destination: string;
  status: ExportStatus;
  attempts?: number;
  error?: string | null;
  sent?: number;
  updated_at_ms?: number;
}
export interface Destination {
  name: string;
  type: 'dicom' | 'dicomweb';
}

export interface Job {
  job_id: string;
  algorithm: string;
  study_id: string;
  series_id?: string | null;
  image_id?: string | null;
  scope: Scope;
  params?: Record<string, unknown>;
  status: JobStatus;
  progress?: { done: number; total: number };
  outputs?: Record<string, string>;
  error?: JobError | null;
  created_at_ms?: number;
  duration_ms?: number | null;
  exports?: JobExport[];
}

// An automatic processing rule (GET /api/rules); `subscribed` when asked with a client id.
export interface Rule {
  name: string;
  when: Record<string, string>;
  algorithm: string;
  params: Record<string, unknown>;
  scope: Scope;
  quiet_seconds: number;
  export?: string[];
  subscribed?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// What a route needs (docs/security.md): `user` routes refuse with 401 only for want of a valid
// API key or JWT, so such a refusal asks the page for one; on `client` routes a 401 may also mean
// an unknown client id, which the caller handles.
type Access = 'user' | 'client';

async function request<T>(path: string, init?: RequestInit, access: Access = 'user'): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: credentials.authorize(init?.headers) });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a proxy's error page, say): reported below with the status line.
  }
  if (!response.ok) {
    const error = (body as { error?: JobError } | undefined)?.error;
    const failure = new ApiError(
      response.status,
      error?.code ?? 'http_' + response.status,
      error?.message ?? `${response.status} ${response.statusText}`,
    );
    if (failure.status === 401 && access === 'user') credentials.required(failure.message);
    throw failure;
  }
  return body as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

export interface StudyQuery {
  patient?: string;
  date?: string;
  modality?: string;
  limit?: number;
  offset?: number;
}

// Patient search matches names and ids: a bare word becomes a case-insensitive wildcard on the
// name; something that looks like an id (digits, dashes) searches PatientID instead.
export function studySearchParams(q: StudyQuery): Record<string, string | number | undefined> {
  const patient = q.patient?.trim() ?? '';
  const looksLikeId = /\d/.test(patient) && !/\s/.test(patient);
  const wildcard = patient && !/[*?]/.test(patient) ? `*${patient}*` : patient;
  return {
    patient_name: patient && !looksLikeId ? wildcard : undefined,
    patient_id: patient && looksLikeId ? wildcard : undefined,
    study_date: q.date?.replace(/-/g, '') || undefined,
    modality: q.modality || undefined,
    limit: q.limit ?? 25,
    offset: q.offset ?? 0,
  };
}

// The body of POST /api/process/{algorithm}: ids below the scope left out, `export` only when a
// destination was chosen (an older server refuses unknown fields).
export function processBody(
  ids: Ids,
  params: Record<string, unknown>,
  clientId: string,
  exportTo: string[] = [],
): Record<string, unknown> {
  const body: Record<string, unknown> = { study_id: ids.study_id, scope: ids.scope, params };
  if (ids.scope !== 'study') body.series_id = ids.series_id;
  if (ids.scope === 'image') body.image_id = ids.image_id;
  body.client_id = clientId;
  if (exportTo.length > 0) body.export = exportTo;
  return body;
}

export const api = {
  async provision(): Promise<string> {
    const r = await request<{ client_id: string }>('/api/provision', { method: 'POST' });
    return r.client_id;
  },
  async algorithms(): Promise<Algorithm[]> {
    return (await request<{ algorithms: Algorithm[] }>('/api/algorithms')).algorithms;
  },
  process(
    algorithm: string,
    ids: Ids,
    params: Record<string, unknown>,
    clientId: string,
    idempotencyKey: string,
    exportTo: string[] = [],
  ): Promise<{ job_id: string; status: JobStatus }> {
    const body = processBody(ids, params, clientId, exportTo);
    // A 401 names an unknown client or missing credentials: the caller tells them apart.
    return request(
      `/api/process/${encodeURIComponent(algorithm)}`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
        body: JSON.stringify(body),
      },
      'client',
    );
  },
  async jobs(clientId: string, limit = 50): Promise<Job[]> {
    const r = await request<{ jobs: Job[] }>(
      '/api/jobs' + query({ limit }),
      { headers: { 'X-Client-Id': clientId } },
      'client',
    );
    return r.jobs;
  },
  job(clientId: string, jobId: string): Promise<Job> {
    return request(
      `/api/jobs/${encodeURIComponent(jobId)}`,
      { headers: { 'X-Client-Id': clientId } },
      'client',
    );
  },
  cancel(clientId: string, jobId: string): Promise<Job> {
    return request(
      `/api/jobs/${encodeURIComponent(jobId)}`,
      { method: 'DELETE', headers: { 'X-Client-Id': clientId } },
      'client',
    );
  },
  async destinations(): Promise<Destination[]> {
    return (await request<{ destinations: Destination[] }>('/api/destinations')).destinations ?? [];
  },
  async rules(clientId: string | null): Promise<Rule[]> {
    // With a client id, a 401 may name that client: the caller asks again without it.
    const headers: Record<string, string> = clientId ? { 'X-Client-Id': clientId } : {};
    return (await request<{ rules: Rule[] }>('/api/rules', { headers }, clientId ? 'client' : 'user'))
      .rules;
  },
  async subscribe(rule: string, clientId: string, on: boolean): Promise<void> {
    const path = `/api/rules/${encodeURIComponent(rule)}/subscriptions`;
    await request(
      path,
      {
        method: on ? 'POST' : 'DELETE',
        headers: { 'Content-Type': 'application/json', 'X-Client-Id': clientId },
        body: on ? JSON.stringify({ client_id: clientId }) : undefined,
      },
      'client',
    );
  },
  // `total` is -1 when unknown (an upstream PACS); `warning` says the upstream did not answer.
  studies(q: StudyQuery): Promise<{ studies: StudySummary[]; total: number; warning?: string }> {
    return request('/pacs/studies' + query(studySearchParams(q)));
  },
  study(studyId: string): Promise<Study> {
    return request(`/pacs/studies/${encodeURIComponent(studyId)}`);
  },
  series(studyId: string, seriesId: string): Promise<Series> {
    return request(
      `/pacs/studies/${encodeURIComponent(studyId)}/series/${encodeURIComponent(seriesId)}`,
    );
  },
  image(ids: Ids): Promise<ImageSummary> {
    return request(
      `/pacs/studies/${encodeURIComponent(ids.study_id)}/series/${encodeURIComponent(
        ids.series_id,
      )}/images/${encodeURIComponent(ids.image_id)}`,
    );
  },
};

export interface Window {
  center: number;
  width: number;
}

// The seed's preview call (/pacs/preview?study_id=&series_id=&image_id=&scope=image), with the
// viewer's window, frame and size, and the page's credential when it has one (an <img> sends no
// headers). Rendered previews are immutable, so the browser caches them.
export function previewUrl(ids: Ids, opts: { window?: Window; frame?: number; size?: number }) {
  return withAccessToken(
    '/pacs/preview' +
    query({
      study_id: ids.study_id,
      series_id: ids.series_id,
      image_id: ids.scope === 'image' ? ids.image_id : ids.image_id || undefined,
      scope: ids.scope,
      wc: opts.window ? Math.round(opts.window.center) : undefined,
      ww: opts.window ? Math.max(1, Math.round(opts.window.width)) : undefined,
      frame: opts.frame && opts.frame > 1 ? opts.frame : undefined,
      size: opts.size,
    })
  );
}

// An output URL from a job or event, made loadable by <img>/<a>, which cannot send headers.
export function outputUrl(path: string, clientId: string): string {
  return path + (path.includes('?') ? '&' : '?') + 'client_id=' + encodeURIComponent(clientId);
}

// The DICOM SEG outputs of a job (docs/api.md "DICOM SEG"): `seg` (image and series jobs), then a
// study job's `seg-1`, `seg-2`, ... in number order. `n` is the series' number, absent for `seg`.
export function segOutputs(outputs: Record<string, string> | undefined): { name: string; n?: number; path: string }[] {
  if (!outputs) return [];
  const out: { name: string; n?: number; path: string }[] = [];
  for (const [name, path] of Object.entries(outputs)) {
    const m = /^seg(?:-(\d+))?$/.exec(name);
    if (!m || typeof path !== 'string') continue;
    out.push(m[1] ? { name, n: Number(m[1]), path } : { name, path });
  }
  return out.sort((a, b) => (a.n ?? 0) - (b.n ?? 0));
}
