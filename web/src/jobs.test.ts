import { describe, expect, it } from 'vitest';
import { applyEvent, emptyJobs, mergeJob, mergeJobs } from './jobs';
import type { Job } from './api';

const job = (id: string, created: number, status: Job['status'] = 'queued'): Job => ({
  job_id: id,
  algorithm: 'clahe',
  study_id: 's',
  scope: 'image',
  status,
  created_at_ms: created,
});

describe('jobs state', () => {
  it('keeps the newest first whatever the arrival order', () => {
    const s = mergeJobs(emptyJobs, [job('b', 2), job('a', 1), job('c', 3)]);
    expect(s.order).toEqual(['c', 'b', 'a']);
  });

  it('applies results and progress from the socket', () => {
    let s = mergeJob(emptyJobs, job('a', 1));
    s = applyEvent(s, { type: 'progress', seq: 1, job_id: 'a', done: 3, total: 10 });
    expect(s.byId.a).toMatchObject({ status: 'running', progress: { done: 3, total: 10 } });
    s = applyEvent(s, {
      type: 'result',
      seq: 2,
      job_id: 'a',
      status: 'succeeded',
      outputs: { image: '/api/results/a/image.png' },
      duration_ms: 12.5,
    });
    expect(s.byId.a).toMatchObject({
      status: 'succeeded',
      duration_ms: 12.5,
      progress: { done: 10, total: 10 },
      outputs: { image: '/api/results/a/image.png' },
    });
  });

  it('never moves a finished job backwards (a stale poll, a late progress event)', () => {
    let s = mergeJob(emptyJobs, job('a', 1, 'failed'));
    s = mergeJob(s, { job_id: 'a', status: 'running' });
    s = applyEvent(s, { type: 'progress', seq: 5, job_id: 'a', done: 1, total: 2 });
    expect(s.byId.a.status).toBe('failed');
  });

  it('learns of a job first from its result (submitted in another tab)', () => {
    const s = applyEvent(emptyJobs, {
      type: 'result',
      seq: 1,
      job_id: 'x',
      algorithm: 'canny',
      status: 'failed',
      error: { code: 'unprocessable', message: 'no' },
    });
    expect(s.order).toEqual(['x']);
    expect(s.byId.x).toMatchObject({ algorithm: 'canny', status: 'failed', error: { code: 'unprocessable' } });
  });

  it('is idempotent', () => {
    const once = mergeJobs(emptyJobs, [job('a', 1, 'succeeded')]);
    const twice = mergeJobs(once, [job('a', 1, 'succeeded')]);
    expect(twice).toEqual(once);
  });
});
