import { describe, expect, it } from 'vitest';
import { backoffDelay, PushClient, wsUrl, type Clock, type PushEvent, type PushStatus, type SocketLike } from './push';

// A clock whose time moves only when the test says so.
class FakeClock implements Clock {
  time = 0;
  private timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  private next = 1;
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.set(this.next, { at: this.time + ms, fn });
    return this.next++;
  };
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  setInterval = (fn: () => void, ms: number) => {
    this.timers.set(this.next, { at: this.time + ms, fn, every: ms });
    return this.next++;
  };
  clearInterval = (h: unknown) => void this.timers.delete(h as number);
  advance(ms: number) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      const [id, t] = due;
      this.time = t.at;
      if (t.every) t.at += t.every;
      else this.timers.delete(id);
      t.fn();
    }
    this.time = end;
  }
  pending() {
    return this.timers.size;
  }
}

class FakeSocket implements SocketLike {
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  sent: string[] = [];
  closed = false;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  // server side
  hello(lastSeq: number) {
    this.onopen?.({});
    this.deliver({ type: 'hello', client_id: 'c', last_seq: lastSeq });
  }
  deliver(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.onerror?.({});
    this.onclose?.({ code: 1006 });
  }
}

function setup(lastSeq = 0) {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const events: PushEvent[] = [];
  const statuses: PushStatus[] = [];
  const saved: number[] = [];
  const client = new PushClient({
    url: (seq) => `ws://h/ws?client_id=c&last_seq=${seq}`,
    lastSeq,
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
    onLastSeq: (s) => saved.push(s),
    openSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    clock,
    random: () => 0.5, // no jitter: delays are exactly initial * 2^n
    initialBackoffMs: 500,
    maxBackoffMs: 8000,
  });
  const state = () => statuses[statuses.length - 1];
  return { clock, sockets, events, statuses, saved, client, state };
}

const result = (seq: number) => ({ type: 'result', seq, job_id: 'j' + seq, status: 'succeeded' });

describe('PushClient', () => {
  it('connects with the stored last_seq and is open after the hello', () => {
    const { client, sockets, state } = setup(7);
    client.start();
    expect(sockets[0].url).toBe('ws://h/ws?client_id=c&last_seq=7');
    expect(state().state).toBe('connecting');
    sockets[0].hello(9);
    expect(state()).toMatchObject({ state: 'open', attempt: 0, everOpened: true, downSinceMs: null });
  });

  it('delivers each event once, in order, dropping the replay/live overlap', () => {
    const { client, sockets, events, saved } = setup(0);
    client.start();
    sockets[0].hello(3);
    for (const seq of [1, 2, 2, 3, 1, 4]) sockets[0].deliver(result(seq));
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(saved).toEqual([1, 2, 3, 4]);
    expect(client.currentLastSeq).toBe(4);
  });

  it('reconnects with backoff and resumes after the last event it delivered', () => {
    const { client, sockets, events, state, clock } = setup(0);
    client.start();
    sockets[0].hello(0);
    sockets[0].deliver(result(1));
    sockets[0].deliver(result(2));
    sockets[0].drop();
    expect(state()).toMatchObject({ state: 'reconnecting', attempt: 1, nextRetryMs: 500 });
    clock.advance(499);
    expect(sockets).toHaveLength(1);
    clock.advance(1);
    expect(sockets[1].url).toContain('last_seq=2');
    sockets[1].drop(); // refused again: the delay doubles
    expect(state()).toMatchObject({ attempt: 2, nextRetryMs: 1000 });
    clock.advance(1000);
    sockets[2].drop();
    clock.advance(2000);
    sockets[3].drop();
    clock.advance(4000);
    sockets[4].drop();
    expect(state().nextRetryMs).toBe(8000); // capped
    clock.advance(8000);
    sockets[5].hello(4);
    sockets[5].deliver(result(3)); // the replay of what was missed
    sockets[5].deliver(result(4));
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(state()).toMatchObject({ state: 'open', attempt: 0 });
  });

  it('reports since when it is down, for the offline fallback', () => {
    const { client, sockets, state, clock } = setup(0);
    clock.time = 1000;
    client.start();
    sockets[0].drop();
    expect(state()).toMatchObject({ downSinceMs: 1000, everOpened: false });
    clock.advance(500);
    sockets[1].hello(0);
    expect(state().downSinceMs).toBeNull();
    clock.advance(10000);
    sockets[1].drop();
    expect(state()).toMatchObject({ downSinceMs: 11500, everOpened: true });
  });

  it('pings every five minutes while open, and not after a drop', () => {
    const { client, sockets, clock } = setup(0);
    client.start();
    sockets[0].hello(0);
    clock.advance(5 * 60 * 1000 - 1);
    expect(sockets[0].sent).toEqual([]);
    clock.advance(1);
    expect(sockets[0].sent).toEqual(['{"action":"ping"}']);
    clock.advance(5 * 60 * 1000);
    expect(sockets[0].sent).toHaveLength(2);
    sockets[0].deliver({ type: 'pong' });
    sockets[0].drop();
    clock.advance(5 * 60 * 1000);
    expect(sockets[0].sent).toHaveLength(2);
  });

  it('retryNow connects at once and starts the backoff over', () => {
    const { client, sockets, state } = setup(0);
    client.start();
    sockets[0].drop();
    sockets.length; // a retry is scheduled 500 ms out
    client.retryNow();
    expect(sockets).toHaveLength(2);
    sockets[1].drop();
    expect(state()).toMatchObject({ attempt: 1, nextRetryMs: 500 });
  });

  it('takes the server store as truth when it is behind (a new data folder)', () => {
    const { client, sockets, events } = setup(50);
    client.start();
    sockets[0].hello(2);
    sockets[0].deliver(result(3));
    expect(events.map((e) => e.seq)).toEqual([3]);
  });

  it('ignores junk and server errors without failing', () => {
    const { client, sockets, events, state } = setup(0);
    client.start();
    sockets[0].hello(0);
    sockets[0].onmessage?.({ data: 'not json' });
    sockets[0].onmessage?.({ data: new ArrayBuffer(2) });
    sockets[0].deliver({ type: 'error', error: { code: 'invalid_argument', message: 'x' } });
    sockets[0].deliver({ type: 'result' }); // no seq
    expect(events).toEqual([]);
    expect(state().state).toBe('open');
  });

  it('delivers export events and advances last_seq past them, so they are not replayed', () => {
    const { client, sockets, events, saved, clock } = setup(0);
    client.start();
    sockets[0].hello(2);
    sockets[0].deliver(result(1));
    sockets[0].deliver({
      type: 'export', seq: 2, job_id: 'j1', destination: 'pacs', status: 'sent', error: '', sent: 31,
    });
    expect(events.map((e) => [e.type, e.seq])).toEqual([['result', 1], ['export', 2]]);
    expect(events[1]).toMatchObject({ destination: 'pacs', status: 'sent', sent: 31 });
    expect(saved).toEqual([1, 2]);
    sockets[0].drop();
    clock.advance(500);
    expect(sockets[1].url).toContain('last_seq=2');
    sockets[1].hello(2);
    sockets[1].deliver({ type: 'export', seq: 2, job_id: 'j1', destination: 'pacs', status: 'sent' });
    expect(events).toHaveLength(2); // the replay of an export already delivered is dropped
  });

  it('acknowledges an event type it does not know without handing it on', () => {
    const { client, sockets, events, saved } = setup(0);
    client.start();
    sockets[0].hello(3);
    sockets[0].deliver(result(1));
    sockets[0].deliver({ type: 'audit', seq: 2, job_id: 'j1', what: 'later feature' });
    sockets[0].deliver({ type: 'export', seq: 3 }); // known type but no job: not usable
    sockets[0].deliver(result(4));
    expect(events.map((e) => e.seq)).toEqual([1, 4]);
    expect(saved).toEqual([1, 2, 3, 4]);
    expect(client.currentLastSeq).toBe(4);
  });

  it('stop closes the socket and cancels every timer', () => {
    const { client, sockets, clock, state } = setup(0);
    client.start();
    sockets[0].hello(0);
    client.stop();
    expect(sockets[0].closed).toBe(true);
    expect(state().state).toBe('stopped');
    expect(clock.pending()).toBe(0);
    clock.advance(60000);
    expect(sockets).toHaveLength(1);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap with +-20% jitter', () => {
    expect(backoffDelay(1, 500, 15000, () => 0.5)).toBe(500);
    expect(backoffDelay(3, 500, 15000, () => 0.5)).toBe(2000);
    expect(backoffDelay(20, 500, 15000, () => 0.5)).toBe(15000);
    expect(backoffDelay(2, 500, 15000, () => 0)).toBe(800);
    expect(backoffDelay(2, 500, 15000, () => 1)).toBe(1200);
  });
});

describe('wsUrl', () => {
  it('follows the page scheme and escapes the id', () => {
    expect(wsUrl({ protocol: 'http:', host: 'h:8080' }, 'a b', 3)).toBe('ws://h:8080/ws?client_id=a%20b&last_seq=3');
    expect(wsUrl({ protocol: 'https:', host: 'h' }, 'x', 0)).toBe('wss://h/ws?client_id=x&last_seq=0');
  });
});
