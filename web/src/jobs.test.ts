import { describe, expect, it } from 'vitest';
import { applyEvent, emptyJobs, exportText, mergeExports, mergeJob, mergeJobs } from './jobs';
import { translator } from './i18n';
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

describe('exports', () => {
  const done = (exports: Job['exports']): Job => ({ ...job('a', 1, 'succeeded'), exports });

  it('takes an export event into the job, keeping other destinations', () => {
    let s = mergeJob(emptyJobs, done([
      { destination: 'pacs', status: 'queued', attempts: 0, updated_at_ms: 10 },
      { destination: 'web', status: 'sending', attempts: 1, updated_at_ms: 11 },
    ]));
    s = applyEvent(s, { type: 'export', seq: 3, job_id: 'a', destination: 'pacs', status: 'sent', error: '', sent: 31 });
    expect(s.byId.a.status).toBe('succeeded');
    expect(s.byId.a.exports).toEqual([
      { destination: 'pacs', status: 'sent', attempts: 0, updated_at_ms: 10, error: null, sent: 31 },
      { destination: 'web', status: 'sending', attempts: 1, updated_at_ms: 11 },
    ]);
  });

  it('never lets a stale poll move a final export back', () => {
    let s = mergeJob(emptyJobs, done([{ destination: 'pacs', status: 'sending', updated_at_ms: 10 }]));
    s = applyEvent(s, {
      type: 'export', seq: 4, job_id: 'a', destination: 'pacs', status: 'failed',
      error: 'gave up after 1 attempts: connection refused', sent: 0,
    });
    s = mergeJob(s, done([{ destination: 'pacs', status: 'retrying', error: 'refused', updated_at_ms: 12 }]));
    expect(s.byId.a.exports?.[0]).toMatchObject({ status: 'failed', error: 'gave up after 1 attempts: connection refused' });
  });

  it('orders non-final statuses by updated_at_ms', () => {
    const old = [{ destination: 'pacs', status: 'retrying' as const, error: 'x', updated_at_ms: 20 }];
    expect(mergeExports(old, [{ destination: 'pacs', status: 'sending', updated_at_ms: 10 }])).toEqual(old);
    expect(mergeExports(old, [{ destination: 'pacs', status: 'sending', updated_at_ms: 30 }])[0].status).toBe('sending');
    expect(mergeExports(old, [{ destination: 'pacs', status: 'sent', sent: 2, updated_at_ms: 5 }])[0].status).toBe('sent');
  });

  it('keeps an export event for a job not yet known, then merges the job', () => {
    let s = applyEvent(emptyJobs, { type: 'export', seq: 1, job_id: 'r', destination: 'pacs', status: 'sent', sent: 3 });
    expect(s.byId.r).toMatchObject({ status: 'succeeded', exports: [{ destination: 'pacs', status: 'sent', sent: 3 }] });
    s = mergeJob(s, { ...job('r', 5, 'succeeded'), exports: [{ destination: 'pacs', status: 'sending', updated_at_ms: 9 }] });
    expect(s.byId.r).toMatchObject({ algorithm: 'clahe', exports: [{ status: 'sent', sent: 3 }] });
  });

  it('ignores an export event without a destination', () => {
    const s = mergeJob(emptyJobs, done(undefined));
    expect(applyEvent(s, { type: 'export', seq: 1, job_id: 'a', status: 'sent' })).toBe(s);
  });

  it('describes exports in both languages', () => {
    const en = translator('en');
    expect(exportText({ destination: 'pacs', status: 'sent', sent: 31 }, en)).toBe('pacs: sent (31)');
    expect(exportText({ destination: 'pacs', status: 'failed', error: 'refused' }, en)).toBe('pacs: failed - refused');
    expect(exportText({ destination: 'web', status: 'queued', error: null }, en)).toBe('web: queued');
    expect(exportText({ destination: 'pacs', status: 'sent', sent: 1 }, translator('it'))).toBe('pacs: inviato (1)');
  });
});
