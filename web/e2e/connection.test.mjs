// The seed's connection behaviour, for real: the server stops and comes back while the page is
// open; results produced meanwhile still reach the page; the toast says when the live connection
// is down and its Retry button reconnects.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { imageShown, startAll, stopAll, typeIds, withPage } from './harness.mjs';

// What Chromium itself logs while the server is away: expected here, nothing else is.
const offlineNoise = [/WebSocket connection to .* failed/, /Failed to load resource/, /ERR_CONNECTION_REFUSED/];

let server;
let browser;
before(async () => ({ server, browser } = await startAll()));
after(() => stopAll({ server, browser }));

async function readyPage(page) {
  const demo = await server.demoImage('CT');
  await page.goto(server.url + '/');
  await typeIds(page, demo);
  await page.getByRole('button', { name: 'Load preview' }).click();
  await page.getByRole('button', { name: 'Provision client' }).click();
  await page.waitForSelector('[data-testid=connection][data-state=open]');
  return { demo, clientId: await page.getByTestId('client-id').textContent() };
}

test('server restarted mid-session: the page reconnects and shows the result produced meanwhile', async () => {
  await withPage(browser, server, 'restart', { allowed: offlineNoise }, async (page) => {
    const { demo, clientId } = await readyPage(page);
    // The push service goes away; the API and workers come back without it, and a job of this
    // client finishes while the page cannot be told.
    await server.restart(['--roles', 'api,worker']);
    await page.waitForSelector('[data-testid=connection]:not([data-state=open])');
    const r = await fetch(server.url + '/api/process/window_level', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Client-Id': clientId },
      body: JSON.stringify({ ...demo, study: undefined, scope: 'image', params: { center: 40, width: 400 } }),
    });
    assert.equal(r.status, 202);
    const { job_id: jobId } = await r.json();
    for (;;) {
      const job = await server.json(`/api/jobs/${jobId}?client_id=${clientId}`);
      if (job.status === 'succeeded') break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    // Everything back: the page reconnects by itself and the stored result is replayed.
    await server.restart();
    await page.waitForSelector('[data-testid=connection][data-state=open]', { timeout: 30000 });
    const row = page.locator(`[data-job-id="${jobId}"]`);
    await row.waitFor();
    await page.waitForSelector(`[data-job-id="${jobId}"][data-status=succeeded]`);
    const lastSeq = await page.evaluate((id) => localStorage.getItem(`imgpipe.last_seq.${id}`), clientId);
    const events = await server.json(`/api/events?client_id=${clientId}`);
    assert.equal(Number(lastSeq), events.last_seq, 'every stored event reached the page');
    await row.getByRole('button', { name: 'Show' }).click();
    await imageShown(page, '[data-testid=processed-image]');
    assert.deepEqual(page.problems, []);
  });
});

test('a toast when the server is down, and Retry reconnects', async () => {
  await withPage(browser, server, 'toast', { allowed: offlineNoise }, async (page) => {
    await readyPage(page);
    await server.stop();
    const toast = page.getByTestId('toast-conn');
    await toast.waitFor({ timeout: 20000 });
    assert.match(await toast.textContent(), /live connection was lost/);
    await page.waitForSelector('[data-testid=connection][data-state=reconnecting]');
    await server.run();
    await toast.getByRole('button', { name: 'Retry' }).click();
    await page.waitForSelector('[data-testid=connection][data-state=open]', { timeout: 10000 });
    await toast.waitFor({ state: 'detached' });
    assert.deepEqual(page.problems, []);
  });
});

test('the live connection cannot start: a toast from the first attempts', async () => {
  await withPage(browser, server, 'toast-first', { allowed: offlineNoise }, async (page) => {
    await readyPage(page);
    // Reopen the page while only the API runs: the socket never opens (404 on /ws).
    await server.restart(['--roles', 'api,worker']);
    await page.reload();
    const toast = page.getByTestId('toast-conn');
    await toast.waitFor({ timeout: 20000 });
    assert.match(await toast.textContent(), /could not be started/);
    await page.getByText('Offline: checking for results').first().waitFor();
    await server.restart();
  });
});
