// localStorage that never throws (private windows, disabled storage, quota): the page then works
// for the session without remembering.
export const storage = {
  get(key: string): string | null {
    try {
      return globalThis.localStorage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  },
  set(key: string, value: string | null): void {
    try {
      if (value === null) globalThis.localStorage?.removeItem(key);
      else globalThis.localStorage?.setItem(key, value);
    } catch {
      // Remembering is a convenience; the page works without it.
    }
  },
};

export const keys = {
  lang: 'imgpipe.lang',
  clientId: 'imgpipe.client_id',
  lastSeq: (clientId: string) => `imgpipe.last_seq.${clientId}`,
  ids: 'imgpipe.ids',
};
