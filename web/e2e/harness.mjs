// End-to-end harness: a real `imgpipe serve --demo` on a free loopback port with its own data
// folder, and Debian's Chromium driven by playwright-core (no browser download). Every page
// records console errors and uncaught exceptions; a failing test saves a screenshot and the
// server's log under web/e2e-artifacts/.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, '..');
export const artifacts = join(webDir, 'e2e-artifacts');
const repo = resolve(webDir, '..');
export const imgpipeBin =
  process.env.IMGPIPE_BIN ?? join(repo, 'build', 'src', 'app', 'imgpipe');
const webRoot = process.env.IMGPIPE_WEB_ROOT ?? join(webDir, 'dist');

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One imgpipe process; restart() starts it again on the same port and data folder.
export class Server {
  constructor({ port, dataDir, args = [] }) {
    this.port = port;
    this.dataDir = dataDir;
    this.args = args;
    this.url = `http://127.0.0.1:${port}`;
    this.logPath = join(dataDir, '..', `imgpipe-${port}.log`);
    this.proc = null;
  }

  static async start({ args = [] } = {}) {
    const base = mkdtempSync(join(process.env.IMGPIPE_TEST_TMPDIR ?? tmpdir(), 'imgpipe-e2e-'));
    const server = new Server({ port: await freePort(), dataDir: join(base, 'data'), args });
    server.base = base;
    await server.run();
    return server;
  }

  async run(extraArgs = []) {
    const log = openSync(this.logPath, 'a');
    const argv = [
      'serve', '--demo', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      '--web-root', webRoot, ...this.args, ...extraArgs,
    ];
    this.proc = spawn(imgpipeBin, argv, { stdio: ['ignore', log, log] });
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.exited = exited;
    const deadline = Date.now() + 60000; // ASan builds and the first demo import are slow
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) break;
      try {
        const r = await fetch(this.url + '/healthz');
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`imgpipe did not start; log:\n${this.log()}`);
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(extraArgs = []) {
    await this.stop();
    await this.run(extraArgs);
  }

  log() {
    try {
      return readFileSync(this.logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  }

  async dispose() {
    await this.stop();
    if (!process.env.E2E_KEEP) rmSync(this.base, { recursive: true, force: true });
  }

  async json(path, init) {
    const r = await fetch(this.url + path, init);
    const body = await r.json();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(body)}`);
    return body;
  }

  // The demo CT: its study, first series and an image in the middle of it.
  async demoImage(modality = 'CT') {
    const { studies } = await this.json(`/pacs/studies?modality=${modality}`);
    const study = await this.json(`/pacs/studies/${studies[0].study_id}`);
    const seriesId = study.series[0].series_id;
    const series = await this.json(`/pacs/studies/${study.study_id}/series/${seriesId}`);
    const image = series.images[Math.floor(series.images.length / 2)];
    return { study_id: study.study_id, series_id: seriesId, image_id: image.image_id, study };
  }
}

export const launchArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: launchArgs,
  });
}

// A fresh browser context (own storage) with a page that records what went wrong in it.
// `allowed` lists console messages expected by the test (e.g. WebSocket failures while the
// server is down).
export async function openPage(browser, { locale = 'en-US', allowed = [] } = {}) {
  const context = await browser.newContext({ locale, viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (!allowed.some((re) => re.test(text))) problems.push('console: ' + text);
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.problems = problems;
  return page;
}

// Runs `fn(page)`; on failure saves a screenshot and the server log, then rethrows.
export async function withPage(browser, server, name, options, fn) {
  const page = await openPage(browser, options);
  try {
    await fn(page);
  } catch (e) {
    mkdirSync(artifacts, { recursive: true });
    const file = join(artifacts, name.replace(/[^\w-]+/g, '_'));
    await page.screenshot({ path: file + '.png', fullPage: true }).catch(() => undefined);
    e.message += `\n(screenshot ${file}.png)\nserver log:\n${server.log()}`;
    throw e;
  } finally {
    await page.context().close();
  }
}

// Waits until the <img> matching `selector` has a decoded picture; returns its size.
export async function imageShown(page, selector, timeout = 15000) {
  await page.waitForFunction(
    (sel) => {
      const img = document.querySelector(sel);
      return img && img.complete && img.naturalWidth > 0;
    },
    selector,
    { timeout },
  );
  return page.$eval(selector, (img) => ({
    width: img.naturalWidth,
    height: img.naturalHeight,
    src: img.getAttribute('src'),
  }));
}

// A live server and a browser for one test file; stop them with stopAll.
export async function startAll(options) {
  return { server: await Server.start(options), browser: await launchBrowser() };
}

export async function stopAll({ server, browser } = {}) {
  await browser?.close();
  await server?.dispose();
}

// The seed's step 1 by hand: the three ids typed into the form (scope stays "image").
export async function typeIds(page, ids) {
  await page.getByLabel('Study ID (study_id)').fill(ids.study_id);
  await page.getByLabel('Series ID (series_id)').fill(ids.series_id);
  await page.getByLabel('Image ID (image_id)').fill(ids.image_id);
}
