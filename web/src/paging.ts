// Paging of the study list (GET /pacs/studies). With an upstream PACS the server may not know
// the total (`total: -1`): then a full page means there may be more, and a short one is the end.
export interface PageInput {
  offset: number;
  limit: number;
  count: number; // studies on this page
  total: number; // -1 when unknown
}

export interface PageInfo {
  from: number; // 1-based position of the first study shown (0 when the page is empty)
  to: number;
  hasPrev: boolean;
  hasNext: boolean;
  totalKnown: boolean;
}

export function pageInfo({ offset, limit, count, total }: PageInput): PageInfo {
  const totalKnown = total >= 0;
  return {
    from: count > 0 ? offset + 1 : 0,
    to: offset + count,
    hasPrev: offset > 0,
    hasNext: totalKnown ? offset + count < total && count > 0 : count >= limit,
    totalKnown,
  };
}
