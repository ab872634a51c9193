import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, previewUrl } from './api';
import { credentials, withAccessToken } from './credentials';

// A sessionStorage of the test's own, to see what is kept where.
function memoryStorage(): Storage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    get length() {
      return data.size;
    },
    clear: () => data.clear(),
    getItem: (k: string) => data.get(k) ?? null,
    key: (i: number) => [...data.keys()][i] ?? null,
    removeItem: (k: string) => void data.delete(k),
    setItem: (k: string, v: string) => void data.set(k, v),
  };
}

// The requests `fetch` was given, answered with `status` and `body`.
function answering(status: number, body: unknown) {
  const calls: { url: string; headers: Headers }[] = [];
  vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
    calls.push({ url, headers: new Headers(init?.headers) });
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
  return calls;
}

const ids = { study_id: '1.2', series_id: '1.3', image_id: '1.4', scope: 'image' as const };
const refusal = { error: { code: 'unauthenticated', message: 'this operation needs an API key' } };

describe('credentials', () => {
  let session: ReturnType<typeof memoryStorage>;
  beforeEach(() => {
    session = memoryStorage();
    vi.stubGlobal('sessionStorage', session);
    credentials.set(null);
  });
  afterEach(() => {
    credentials.set(null);
    vi.unstubAllGlobals();
  });

  it('keeps the token in sessionStorage, trimmed, and forgets it', () => {
    expect(credentials.get()).toBeNull();
    credentials.set('  key-1 \n');
    expect(credentials.get()).toBe('key-1');
    expect([...session.data.values()]).toEqual(['key-1']);
    credentials.set('   ');
    expect(credentials.get()).toBeNull();
    expect(session.data.size).toBe(0);
  });

  it('adds a bearer header and an access_token only when a token is set', () => {
    expect(credentials.authorize({ 'X-Client-Id': 'c' })).toEqual({ 'X-Client-Id': 'c' });
    expect(withAccessToken('/pacs/preview?a=1')).toBe('/pacs/preview?a=1');
    credentials.set('k+/=');
    const headers = new Headers(credentials.authorize({ 'X-Client-Id': 'c' }));
    expect(headers.get('Authorization')).toBe('Bearer k+/=');
    expect(headers.get('X-Client-Id')).toBe('c');
    expect(withAccessToken('/pacs/preview?a=1')).toBe('/pacs/preview?a=1&access_token=k%2B%2F%3D');
    expect(withAccessToken('/x')).toBe('/x?access_token=k%2B%2F%3D');
    expect(previewUrl(ids, {})).toBe(
      '/pacs/preview?study_id=1.2&series_id=1.3&image_id=1.4&scope=image&access_token=k%2B%2F%3D',
    );
  });

  it('works without sessionStorage, for the life of the page', () => {
    vi.stubGlobal('sessionStorage', undefined);
    credentials.set('only-in-memory');
    expect(credentials.get()).toBe('only-in-memory');
  });

  it('sends the token with every API call', async () => {
    credentials.set('key-2');
    const calls = answering(200, { algorithms: [], jobs: [] });
    await api.algorithms();
    await api.jobs('client-1');
    expect(calls.map((c) => c.headers.get('Authorization'))).toEqual(['Bearer key-2', 'Bearer key-2']);
    expect(calls[1].headers.get('X-Client-Id')).toBe('client-1');
  });

  it("asks for a credential when a user route says 401, not when a client route does", async () => {
    const reasons: string[] = [];
    const unsubscribe = credentials.onRequired((r) => reasons.push(r));
    answering(401, refusal);
    await expect(api.algorithms()).rejects.toBeInstanceOf(ApiError);
    expect(reasons).toEqual(['this operation needs an API key']);
    // An unknown client id is a 401 too: the caller handles it, no sign-in is asked.
    await expect(api.jobs('gone')).rejects.toMatchObject({ status: 401 });
    await expect(api.process('denoise', ids, {}, 'gone', 'k')).rejects.toMatchObject({ status: 401 });
    await expect(api.rules('gone')).rejects.toMatchObject({ status: 401 });
    expect(reasons).toHaveLength(1);
    await expect(api.rules(null)).rejects.toMatchObject({ status: 401 });
    expect(reasons).toHaveLength(2);
    unsubscribe();
    await expect(api.studies({})).rejects.toMatchObject({ status: 401 });
    expect(reasons).toHaveLength(2);
  });
});
