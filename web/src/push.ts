// The live connection to imgpipe's push service (/ws, docs/api.md "WebSocket").
//
// Contract: every event the server stored for this client after `lastSeq` reaches `onEvent`
// exactly once and in sequence order, across reconnects: the socket resumes with `last_seq`, and
// an event at or below the last one delivered is dropped (the seam between replay and live, or
// a replay asked for twice). Every message with a numeric `seq` is a stored event and advances
// `lastSeq`, whatever its type: a type this page does not know is acknowledged (never replayed
// again) but not handed to `onEvent`, so a newer server's events cannot confuse an older page. The connection is retried with exponential backoff and jitter; a
// ping goes out every 5 minutes while open (the seed's frontend); the state machine is reported
// through `onState` so the page can show an indicator, a toast and fall back to polling.
//
// Everything time- and socket-related is injectable, so the logic is unit tested without a server.

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'stopped';

// The stored event types the page acts on (docs/api.md "WebSocket").
export const EVENT_TYPES = ['result', 'progress', 'export'] as const;
export type PushEventType = (typeof EVENT_TYPES)[number];

export interface PushEvent {
  type: PushEventType;
  seq: number;
  job_id: string;
  [key: string]: unknown;
}

const isKnownType = (type: unknown): type is PushEventType =>
  typeof type === 'string' && (EVENT_TYPES as readonly string[]).includes(type);

export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface PushStatus {
  state: ConnectionState;
  attempt: number; // failed attempts since the last open connection
  downSinceMs: number | null; // when the connection was last lost (or first tried), null when open
  everOpened: boolean;
  nextRetryMs: number | null; // delay of the scheduled retry
}

export interface PushOptions {
  url: (lastSeq: number) => string;
  lastSeq: number;
  onEvent: (event: PushEvent) => void;
  onStatus: (status: PushStatus) => void;
  onLastSeq?: (lastSeq: number) => void; // persist it (localStorage) to resume after a reload
  openSocket?: (url: string) => SocketLike;
  clock?: Clock;
  random?: () => number;
  pingIntervalMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export const PING_INTERVAL_MS = 5 * 60 * 1000;

// Delay before retry number `attempt` (1-based): initial * 2^(attempt-1), capped, then spread by
// +-20% so that browsers cut off together do not all come back in the same instant.
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (h) => globalThis.clearInterval(h as ReturnType<typeof setInterval>),
};

export class PushClient {
  private socket: SocketLike | null = null;
  private lastSeq: number;
  private status: PushStatus;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly openSocket: (url: string) => SocketLike;

  constructor(private readonly options: PushOptions) {
    this.lastSeq = options.lastSeq;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.openSocket =
      options.openSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.status = {
      state: 'stopped',
      attempt: 0,
      downSinceMs: null,
      everOpened: false,
      nextRetryMs: null,
    };
  }

  get currentLastSeq(): number {
    return this.lastSeq;
  }

  start(): void {
    if (this.status.state !== 'stopped') return;
    this.update({ downSinceMs: this.clock.now() });
    this.connect();
  }

  stop(): void {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      socket.close(1000);
    }
    this.update({ state: 'stopped', nextRetryMs: null });
  }

  // The user's "retry": connect now, with the backoff started over.
  retryNow(): void {
    if (this.status.state === 'open' || this.status.state === 'connecting') return;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.update({ attempt: 0, downSinceMs: this.status.downSinceMs ?? this.clock.now() });
    this.connect();
  }

  private connect(): void {
    this.update({ state: 'connecting', nextRetryMs: null });
    let socket: SocketLike;
    try {
      socket = this.openSocket(this.options.url(this.lastSeq));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      // The server's hello (next) confirms the client; until then we are still connecting.
    };
    socket.onmessage = (ev) => this.handleMessage(ev.data);
    socket.onerror = () => {
      // Always followed by onclose, which decides what to do.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopPing();
      this.update({ downSinceMs: this.status.downSinceMs ?? this.clock.now() });
      this.scheduleRetry();
    };
  }

  private handleMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: { type?: string; seq?: number; last_seq?: number };
    try {
      message = JSON.parse(data);
    } catch {
      return; // not ours to crash on
    }
    if (message.type === 'hello') {
      // The server's store may be younger than our memory of it (a new data folder): then its
      // numbers restart, and what we remember must not make us drop them.
      if (typeof message.last_seq === 'number' && message.last_seq < this.lastSeq) {
        this.setLastSeq(message.last_seq);
      }
      this.update({
        state: 'open',
        attempt: 0,
        downSinceMs: null,
        everOpened: true,
        nextRetryMs: null,
      });
      this.startPing();
      return;
    }
    if (typeof message.seq === 'number' && Number.isFinite(message.seq)) {
      if (message.seq <= this.lastSeq) return; // already delivered
      this.setLastSeq(message.seq);
      const event = message as Partial<PushEvent>;
      if (isKnownType(event.type) && typeof event.job_id === 'string') {
        this.options.onEvent(event as PushEvent);
      }
      return;
    }
    // pong and error messages need nothing: the server keeps the connection open.
  }

  private setLastSeq(seq: number) {
    this.lastSeq = seq;
    this.options.onLastSeq?.(seq);
  }

  private scheduleRetry(): void {
    const attempt = this.status.attempt + 1;
    const delay = backoffDelay(
      attempt,
      this.options.initialBackoffMs ?? 500,
      this.options.maxBackoffMs ?? 15000,
      this.random,
    );
    this.update({ state: 'reconnecting', attempt, nextRetryMs: delay });
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private startPing(): void {
    this.stopPing();
    this.pingTimer = this.clock.setInterval(() => {
      try {
        this.socket?.send(JSON.stringify({ action: 'ping' }));
      } catch {
        // A failing send means the socket is closing: onclose follows.
      }
    }, this.options.pingIntervalMs ?? PING_INTERVAL_MS);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) this.clock.clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopPing();
  }

  private detach(socket: SocketLike): void {
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
  }

  private update(patch: Partial<PushStatus>): void {
    this.status = { ...this.status, ...patch };
    this.options.onStatus({ ...this.status });
  }
}

// ws:// or wss:// URL of the push endpoint on the page's own origin.
export function wsUrl(location: { protocol: string; host: string }, clientId: string, lastSeq: number) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws?client_id=${encodeURIComponent(clientId)}&last_seq=${lastSeq}`;
}
