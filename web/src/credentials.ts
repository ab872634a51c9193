// The API key or JWT the page sends when the server asks for one (docs/security.md "Who may do
// what"): kept in sessionStorage, so it lives as long as the tab and never reaches disk beyond the
// browser's session store; never put in localStorage, logs or page text.
//
// Requests send it as `Authorization: Bearer …`; URLs that <img> loads (which cannot send headers)
// carry it as `?access_token=` (RFC 6750 §2.3; the server's access log never records queries).

const KEY = 'imgpipe.access_token';

function session(): Storage | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // storage disabled: the token lasts until the page reloads
  }
}

let fallback: string | null = null; // when sessionStorage is unavailable or refuses
type Listener = (reason: string) => void;
const listeners = new Set<Listener>();

export const credentials = {
  get(): string | null {
    try {
      return session()?.getItem(KEY) ?? fallback;
    } catch {
      return fallback;
    }
  },
  // Stores `token` (trimmed; empty or null forgets it).
  set(token: string | null): void {
    const value = token?.trim() || null;
    fallback = value;
    try {
      if (value === null) session()?.removeItem(KEY);
      else session()?.setItem(KEY, value);
    } catch {
      // Kept in memory only.
    }
  },
  // Headers with the credential added when one is set.
  authorize(headers: HeadersInit | undefined): HeadersInit | undefined {
    const token = credentials.get();
    if (!token) return headers;
    const merged = new Headers(headers);
    merged.set('Authorization', 'Bearer ' + token);
    return merged;
  },
  // Called when the server refused a request for want of (valid) credentials; the page asks for
  // one. Returns the unsubscribe function.
  onRequired(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  required(reason: string): void {
    for (const listener of listeners) listener(reason);
  },
};

// `url` with `access_token` added when a credential is set (for <img> and <a> sources).
export function withAccessToken(url: string): string {
  const token = credentials.get();
  if (!token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token);
}
