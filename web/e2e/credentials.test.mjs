// A server that wants credentials (auth.api_keys_file): the page asks for the API key once a
// request is refused, says so when the server refuses the one given, and with the right one
// previews (the <img> carries it as access_token), provisions, processes and shows the result.
// The key lives in sessionStorage only; Sign out forgets it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { imageShown, startAll, stopAll, typeIds, withPage } from './harness.mjs';

const API_KEY = 'e2e-api-key-0123456789abcdef';
const keysDir = mkdtempSync(join(tmpdir(), 'imgpipe-e2e-keys-'));

let server;
let browser;
before(async () => {
  const keysFile = join(keysDir, 'api-keys');
  writeFileSync(keysFile, `# e2e\n${API_KEY}\n`);
  // The server inherits the environment (harness.mjs spawns it without its own).
  process.env.IMGPIPE_AUTH_API_KEYS_FILE = keysFile;
  ({ server, browser } = await startAll());
});
after(async () => {
  await stopAll({ server, browser });
  delete process.env.IMGPIPE_AUTH_API_KEYS_FILE;
  rmSync(keysDir, { recursive: true, force: true });
});

// The demo CT's ids, read with the key.
async function demoCt() {
  const headers = { Authorization: `Bearer ${API_KEY}` };
  const get = async (path) => {
    const r = await fetch(server.url + path, { headers });
    assert.equal(r.status, 200, path);
    return r.json();
  };
  const { studies } = await get('/pacs/studies?modality=CT');
  const study = await get(`/pacs/studies/${studies[0].study_id}`);
  const series = await get(`/pacs/studies/${study.study_id}/series/${study.series[0].series_id}`);
  return { study_id: study.study_id, series_id: series.series_id, image_id: series.images[0].image_id };
}

test('sign in with an API key, process an image, sign out', async () => {
  // Without the key the server answers 401, which Chromium reports on the console.
  const allowed = [/status of 401/];
  await withPage(browser, server, 'credentials', { allowed }, async (page) => {
    const anonymous = await fetch(server.url + '/api/algorithms');
    assert.equal(anonymous.status, 401, 'the server wants a key');

    await page.goto(server.url + '/');
    const panel = page.getByTestId('signin');
    await panel.getByText('This server asks for an API key').waitFor();
    assert.equal(await page.getByTestId('signout').count(), 0);

    // A wrong key: refused, in the server's words.
    await page.getByTestId('signin-token').fill('not-the-key');
    await page.getByTestId('signin-submit').click();
    await panel.getByText('The server refused the key or token').waitFor();
    assert.equal(await page.getByTestId('signout').count(), 1, 'a key is set, if a wrong one');

    await page.getByTestId('signin-token').fill(API_KEY);
    await page.getByTestId('signin-submit').click();
    // The page reloads: locators wait across the navigation (a function would not survive it).
    await page.locator('#algorithm option[value="processing_1"]').waitFor({ state: 'attached' });
    await page.getByTestId('signin').waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Algorithm').inputValue(), 'processing_1');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('imgpipe.access_token')), API_KEY);
    const local = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    assert.ok(!local.includes(API_KEY), 'the key is never put in localStorage');

    await typeIds(page, await demoCt());
    await page.getByRole('button', { name: 'Load preview' }).click();
    const original = await imageShown(page, '[data-testid=original-image]');
    assert.ok(original.src.includes(`access_token=${API_KEY}`), original.src);

    await page.getByRole('button', { name: 'Provision client' }).click();
    await page.waitForSelector('[data-testid=connection][data-state=open]');
    await page.getByRole('button', { name: 'Start processing' }).click();
    const processed = await imageShown(page, '[data-testid=processed-image]');
    assert.deepEqual([processed.width, processed.height], [original.width, original.height]);

    await page.getByTestId('signout').click();
    await page.getByTestId('signin').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('imgpipe.access_token')), null);
    assert.deepEqual(page.problems, []);
  });
});
