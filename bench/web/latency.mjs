// Time from clicking "Start processing" to the processed image on screen, in headless Chromium
// against a live `imgpipe serve --demo` (docs/benchmarks.md, "Web frontend").
//
//   node bench/web/latency.mjs [runs=20] [algorithm=window_level]
//
// The clock runs inside the page: performance.now() at the click, and again when the new
// processed <img> is in the document (the page inserts it only once the PNG is fetched and
// decoded). Needs a built imgpipe (build/) and web/dist (make web).
import { imageShown, launchBrowser, openPage, Server, typeIds } from '../../web/e2e/harness.mjs';

const runs = Number(process.argv[2] ?? 20);
const algorithm = process.argv[3] ?? 'window_level';

const server = await Server.start();
const browser = await launchBrowser();
try {
  const demo = await server.demoImage('CT');
  const page = await openPage(browser);
  await page.goto(server.url + '/');
  await typeIds(page, demo);
  await page.getByRole('button', { name: 'Load preview' }).click();
  await imageShown(page, '[data-testid=original-image]');
  await page.getByRole('button', { name: 'Provision client' }).click();
  await page.waitForSelector('[data-testid=connection][data-state=open]');
  await page.getByLabel('Algorithm').selectOption(algorithm);

  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const ms = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const shown = () => document.querySelector('[data-testid=processed-image]')?.getAttribute('src');
          const before = shown();
          const button = [...document.querySelectorAll('button')].find(
            (b) => b.textContent === 'Start processing',
          );
          const timer = setTimeout(() => reject(new Error('no result in 10 s')), 10000);
          const observer = new MutationObserver(() => {
            const now = shown();
            if (now && now !== before) {
              const elapsed = performance.now() - t0;
              observer.disconnect();
              clearTimeout(timer);
              resolve(elapsed);
            }
          });
          observer.observe(document.body, { subtree: true, childList: true, attributes: true });
          const t0 = performance.now();
          button.click();
        }),
    );
    if (i > 0) times.push(ms); // the first run warms caches and connections
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `${algorithm} x${runs}: click -> processed image shown: median ${median.toFixed(1)} ms, ` +
      `min ${times[0].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms`,
  );
  if (page.problems.length) console.log('page problems:', page.problems);
} finally {
  await browser.close();
  await server.dispose();
}
