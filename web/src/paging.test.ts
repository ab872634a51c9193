import { describe, expect, it } from 'vitest';
import { pageInfo } from './paging';

describe('study list paging', () => {
  it('pages through a known total', () => {
    expect(pageInfo({ offset: 0, limit: 25, count: 25, total: 60 })).toEqual({
      from: 1, to: 25, hasPrev: false, hasNext: true, totalKnown: true,
    });
    expect(pageInfo({ offset: 50, limit: 25, count: 10, total: 60 })).toMatchObject({
      from: 51, to: 60, hasPrev: true, hasNext: false,
    });
    expect(pageInfo({ offset: 0, limit: 25, count: 25, total: 25 }).hasNext).toBe(false);
  });

  it('offers Next while pages are full when the total is unknown (-1)', () => {
    expect(pageInfo({ offset: 0, limit: 25, count: 25, total: -1 })).toEqual({
      from: 1, to: 25, hasPrev: false, hasNext: true, totalKnown: false,
    });
    expect(pageInfo({ offset: 25, limit: 25, count: 7, total: -1 })).toMatchObject({
      from: 26, to: 32, hasPrev: true, hasNext: false,
    });
  });

  it('handles an empty page', () => {
    expect(pageInfo({ offset: 25, limit: 25, count: 0, total: -1 })).toMatchObject({
      from: 0, hasPrev: true, hasNext: false,
    });
    expect(pageInfo({ offset: 0, limit: 25, count: 0, total: 0 })).toMatchObject({ hasPrev: false, hasNext: false });
  });
});
