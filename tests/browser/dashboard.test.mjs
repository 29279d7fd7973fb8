// Browser tests of the operator dashboard: Debian's chromium, driven by playwright-core,
// against a real `antidoted demo --keep-running` on 127.0.0.1 (embedded kubesim, its own
// database). Run by `.ci/run` with `npm ci && npm test`; see README.md beside this file.
//
// The demo provisions this directory's curriculum first: quick-lesson (READY, then killed
// by the demo), slow-lesson (READY after its 12 s ready delay) and broken-lesson (ERROR:
// its image crash-loops under --fail-image). The tests then act as an operator in the
// browser and, through the /exp API, as a learner; a livelesson page follows its lab's
// progress stream (/exp/livelesson/{id}/progress).
//
// On failure, a screenshot of the page is kept in artifacts/ (with the demo's output).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const artifacts = join(here, 'artifacts');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const binary = process.env.ANTIDOTED || join(targetDir, 'debug', 'antidoted');
const database = process.env.BROWSER_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/antidote_browser';
const adminToken = randomBytes(24).toString('hex');

// Waits are for events the page or the server reports; these bound them.
const PROVISION_MS = 90_000;
const STEP_MS = 30_000;

let demo;
let demoOutput = '';
let base;
let signInLink;
let browser;

/** Resolves with the first match of `pattern` in the demo's output after `from`. */
function waitForOutput(pattern, from = 0, timeoutMs = 240_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`demo did not print ${pattern} within ${timeoutMs} ms:\n${demoOutput}`));
    }, timeoutMs);
    const poll = setInterval(() => {
      const match = pattern.exec(demoOutput.slice(from));
      if (match) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(match);
      } else if (demo.exitCode !== null) {
        clearTimeout(timer);
        clearInterval(poll);
        reject(new Error(`demo exited with ${demo.exitCode}:\n${demoOutput}`));
      }
    }, 100);
  });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  // A fresh database each run, so that counts start from the demo's own work.
  // The configured database's, not another run's (BROWSER_DATABASE_URL).
  const name = decodeURIComponent(new URL(database).pathname.slice(1));
  spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', name], {
    stdio: 'inherit',
  });
  demo = spawn(
    binary,
    [
      'demo', '--keep-running', '--plain',
      '--curriculum', join(here, 'curriculum'), '--tier', 'local',
      '--fail-image', '*broken*',
      '--timeout-secs', '120',
    ],
    {
      cwd: repo,
      env: {
        ...process.env,
        DATABASE_URL: database,
        ANTIDOTE_ADMIN_TOKEN: adminToken,
        RUST_LOG: process.env.RUST_LOG || 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  demo.stdout.on('data', (chunk) => { demoOutput += chunk; });
  demo.stderr.on('data', (chunk) => { demoOutput += chunk; });
  const kept = await waitForOutput(/Ctrl-C stops\./);
  const rest = kept.index + kept[0].length;
  const link = await waitForOutput(/sign in\s+(http:\/\/127\.0\.0\.1:\d+)\/ui\/sign-in\/([0-9a-f]{64})/, rest);
  base = link[1];
  signInLink = `${base}/ui/sign-in/${link[2]}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      // Loopback only: any other host name fails to resolve.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((resolve) => demo.once('exit', resolve));
    demo.kill('SIGINT');
    const timer = setTimeout(() => demo.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }
  writeFileSync(join(artifacts, 'demo-output.txt'), demoOutput);
});

/**
 * Runs `body` with a fresh page (signed in unless `signedIn` is false), failing on any
 * console error or uncaught exception of the page, and keeping a screenshot on failure.
 */
async function withPage(name, body, { signedIn = true, allowedErrors = [] } = {}) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !allowedErrors.some((allowed) => allowed.test(message.text()))) {
      errors.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('dialog', (dialog) => dialog.accept());
  try {
    if (signedIn) await signIn(page);
    await body(page, context);
    assert.deepEqual(errors, [], 'the page logged errors');
  } catch (error) {
    const file = join(artifacts, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    error.message += `\n(screenshot: ${file}; page errors: ${JSON.stringify(errors)})`;
    throw error;
  } finally {
    await context.close();
  }
}

async function signIn(page) {
  await page.goto('/ui/sign-in');
  await page.fill('#token', adminToken);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/ui`);
}

/** A learner's request through the /exp API: a new session and a livelesson of `lesson`. */
async function requestLivelesson(lesson) {
  const created = await (await fetch(`${base}/exp/livesession`, { method: 'POST' })).json();
  // The original's gateway spelled it `ID`.
  const sessionId = created.id ?? created.ID;
  const response = await fetch(`${base}/exp/livelesson`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lessonSlug: lesson, sessionId, lessonStage: 0 }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const livelesson = await response.json();
  return livelesson.id ?? livelesson.ID;
}

/** The admin API's view of a job. */
async function adminJob(id) {
  const response = await fetch(`${base}/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

/** The id of the livelesson's job of `kind`, read from its dashboard page. */
async function jobOf(page, livelesson, kind) {
  await page.goto(`/ui/livelessons/${livelesson}`);
  const row = page.locator(`#livelesson-jobs tr[data-kind="${kind}"]`).first();
  await row.waitFor({ timeout: STEP_MS });
  return row.getAttribute('data-job');
}

test('nothing is readable without signing in, and a sign-in link works once', async () => {
  // Without a session every page leads to the sign-in form, and refreshes get 401.
  for (const path of ['/ui', '/ui/jobs', '/ui/jobs/1', '/ui/livelessons']) {
    const response = await fetch(`${base}${path}`, { redirect: 'manual' });
    assert.equal(response.status, 303, path);
    assert.match(response.headers.get('location'), /^\/ui\/sign-in\?next=/);
    const body = await response.text();
    assert.doesNotMatch(body, /livelesson|job/i, `${path} leaked content`);
    const refresh = await fetch(`${base}${path}`, { headers: { 'x-dashboard-refresh': '1' } });
    assert.equal(refresh.status, 401, path);
  }
  // An action from elsewhere is refused before anything else is looked at.
  const forged = await fetch(`${base}/ui/jobs/1/retry`, {
    method: 'POST',
    headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'csrf=x',
    redirect: 'manual',
  });
  assert.equal(forged.status, 403);

  await withPage('sign-in', async (page) => {
    await page.goto('/ui/jobs');
    await page.waitForURL(/\/ui\/sign-in\?next=/);
    assert.equal(await page.locator('#token').getAttribute('type'), 'password');
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.locator('[role=alert]').waitFor();
    assert.match(await page.locator('[role=alert]').innerText(), /not the admin token/);
    await page.fill('#token', adminToken);
    await page.click('button[type=submit]');
    // Back where the browser wanted to go.
    await page.waitForURL(`${base}/ui/jobs`);
    const [cookie] = await page.context().cookies();
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.notEqual(cookie.value, adminToken);
    assert.equal((await page.content()).includes(adminToken), false);
  }, { signedIn: false, allowedErrors: [/status of 401/] });

  await withPage('sign-in-link', async (page) => {
    await page.goto(signInLink);
    await page.waitForURL(`${base}/ui`);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    const again = await fetch(signInLink, { redirect: 'manual' });
    assert.equal(again.status, 401, 'a used link signs in nobody');
  }, { signedIn: false });
});

test('the overview updates while a livelesson provisions', async () => {
  await withPage('overview', async (page) => {
    await page.goto('/ui');
    await page.evaluate(() => { window.notReloaded = true; });
    const id = await requestLivelesson('slow-lesson');
    const row = page.locator(`#livelessons-overview tr[data-livelesson="${id}"]`);
    // It appears, is seen provisioning (the 12 s ready delay leaves time to see it), then
    // becomes READY: all in the same page, refreshed by its script.
    await row.waitFor({ timeout: STEP_MS });
    await page.waitForFunction(
      (id) => {
        const status = document.querySelector(`#livelessons-overview tr[data-livelesson="${id}"]`)?.dataset.status;
        return status && status !== 'READY' && status !== 'ERROR';
      },
      id,
      { timeout: STEP_MS },
    );
    await page.waitForFunction(
      (id) => document.querySelector(`#livelessons-overview tr[data-livelesson="${id}"]`)?.dataset.status === 'READY',
      id,
      { timeout: PROVISION_MS },
    );
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
    assert.equal(await page.locator('#live-status').innerText(), 'live');
    // The job figures and charts are there too.
    const completed = Number(await page.locator('[data-figure="jobs-completed"] .figure').innerText());
    assert.ok(completed >= 1, `completed jobs in the last hour: ${completed}`);
    await page.locator('#throughput-chart svg').waitFor();
  });
});

test('a job page shows every CREATE step in order on the timeline', async () => {
  await withPage('create-timeline', async (page) => {
    const livelesson = await requestLivelesson('quick-lesson');
    const job = await jobOf(page, livelesson, 'livelesson.create');
    await page.goto(`/ui/jobs/${job}`);
    await page.waitForFunction(() => document.querySelector('#job-state')?.textContent === 'completed', null, {
      timeout: PROVISION_MS,
    });
    const shown = await page.locator('#steps tr[data-step]').evaluateAll((rows) =>
      rows.map((row) => [row.dataset.step, row.dataset.outcome]));
    const detail = await adminJob(job);
    const started = detail.events.filter((e) => e.kind === 'step_started').map((e) => e.step);
    assert.ok(started.length >= 10, `steps started: ${started}`);
    assert.deepEqual(shown.map(([step]) => step), started);
    assert.ok(shown.every(([, outcome]) => outcome === 'completed'), JSON.stringify(shown));
    for (const step of ['images', 'namespace', 'endpoint:linux1', 'pods-ready', 'reachability', 'status:READY']) {
      assert.ok(started.includes(step), `${step} missing from ${started}`);
    }
    assert.equal(await page.locator('svg.timeline rect.bar').count(), started.length);
  });
});

test('a failed livelesson shows its reason, failed step and logs', async () => {
  await withPage('failed-livelesson', async (page) => {
    await page.goto('/ui/livelessons?status=ERROR&lesson=broken-lesson');
    const row = page.locator('table.livelessons tr[data-status="ERROR"]').first();
    await row.waitFor({ timeout: PROVISION_MS });
    await row.locator('a').first().click();
    await page.locator('#livelesson-error').waitFor();
    assert.match(await page.locator('#error-reason').innerText(), /\S/);
    assert.equal(await page.locator('#error-step').innerText(), 'pods-ready');
    assert.match(await page.locator('#error-logs').innerText(), /simulated crash/);
    assert.equal(await page.locator('#livelesson-status').innerText(), 'ERROR');
    assert.ok(await page.locator('#livelesson-jobs tr[data-state="failed"]').count() >= 1);
  });
});

test('retry and cancel act and show their result', async () => {
  await withPage('retry-cancel', async (page) => {
    // Retry the broken livelesson's failed CREATE job.
    await page.goto('/ui/livelessons?status=ERROR&lesson=broken-lesson');
    const broken = await page.locator('table.livelessons tr[data-status="ERROR"]').first().getAttribute('data-livelesson');
    const failed = await jobOf(page, broken, 'livelesson.create');
    await page.goto(`/ui/jobs/${failed}`);
    assert.equal(await page.locator('#job-state').innerText(), 'failed');
    await page.click('#retry');
    await page.locator('#notice', { hasText: 'Retried' }).waitFor();
    await page.locator('#events tr[data-event="retried"]').waitFor();
    assert.equal(new URL(page.url()).search, '', 'the notice is dropped from the address');
    // It runs again and, its image still crashing, fails again: the page follows it.
    await page.waitForFunction(() => document.querySelector('#job-state')?.textContent === 'failed'
      && document.querySelectorAll('#events tr[data-event="claimed"]').length >= 2, null, { timeout: PROVISION_MS });

    // Cancel a CREATE job while it runs its ready delay: it stops at its next step.
    const slow = await requestLivelesson('slow-lesson');
    const running = await jobOf(page, slow, 'livelesson.create');
    await page.goto(`/ui/jobs/${running}`);
    await page.locator('#steps tr[data-step="ready-delay"]').waitFor({ timeout: PROVISION_MS });
    await page.click('#cancel');
    await page.locator('#notice', { hasText: 'Cancel requested' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#job-state')?.textContent === 'cancelled', null, {
      timeout: PROVISION_MS,
    });
    await page.locator('#events tr[data-event="cancelled"]').waitFor();
    assert.equal(await page.locator('#cancel').count(), 0, 'a finished job offers no cancel');
    assert.equal((await adminJob(running)).job.state, 'cancelled');

    // Kill the cancelled livelesson.
    await page.goto(`/ui/livelessons/${slow}`);
    await page.click('#kill');
    await page.locator('#notice', { hasText: 'Kill requested' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('#kill'), null, { timeout: STEP_MS });
  });
});

test("a learner's lab shows its schedule, and Extend moves it", async () => {
  await withPage('schedule-extend', async (page) => {
    const id = await requestLivelesson('quick-lesson');
    await page.goto(`/ui/livelessons/${id}`);
    await page.locator('#livelesson-schedule').waitFor();
    assert.equal(await page.locator('#schedule-extensions').innerText(), '4');
    const before = await page.locator('#schedule-expires').innerText();
    await page.click('#extend');
    await page.locator('#notice', { hasText: 'Extended' }).waitFor();
    assert.equal(await page.locator('#schedule-extensions').innerText(), '3');
    assert.notEqual(await page.locator('#schedule-expires').innerText(), before, 'expires later');
    // The learner's API agrees.
    const schedule = await (await fetch(`${base}/exp/livelesson/${id}/schedule`)).json();
    assert.equal(schedule.extensions_left, 3);
  });
});

test("a livelesson page follows its lab's live progress from the first step to READY", async () => {
  await withPage('live-progress', async (page) => {
    // Page refreshes the script makes (it must make none while the stream keeps the page
    // live).
    const refreshes = [];
    page.on('request', (request) => {
      if (request.headers()['x-dashboard-refresh']) refreshes.push(request.url());
    });
    const id = await requestLivelesson('slow-lesson');
    await page.goto(`/ui/livelessons/${id}`);
    // The first step of the plan comes first (a stream opened late catches up).
    const first = page.locator('#progress-steps li').first();
    await first.waitFor({ timeout: PROVISION_MS });
    assert.equal(await first.getAttribute('data-step'), 'images');
    // The 12 s ready delay: the lab is seen part way, then READY, all from the stream.
    await page.locator('#progress-steps li[data-step="ready-delay"]').waitFor({ timeout: PROVISION_MS });
    const partWay = await page.locator('#progress-bar').evaluate((bar) => bar.value);
    assert.ok(partWay > 0 && partWay < 100, `progress part way: ${partWay}`);
    await page.waitForFunction(
      () => document.querySelector('#livelesson-progress')?.dataset.outcome === 'ready',
      null,
      { timeout: PROVISION_MS },
    );
    // At most the one refresh the final event asks for.
    assert.ok(refreshes.length <= 1, `refreshed while streaming: ${refreshes.length}`);
    assert.equal(await page.locator('#progress-bar').evaluate((bar) => bar.value), 100);
    assert.equal(await page.locator('#progress-message').innerText(), 'Your lab is ready');
    const steps = await page.locator('#progress-steps li').evaluateAll((items) => items.map((item) => item.dataset.step));
    for (const step of ['images', 'namespace', 'endpoint:linux1', 'pods-ready', 'reachability', 'ready-delay']) {
      assert.ok(steps.includes(step), `${step} missing from ${steps}`);
    }
    assert.equal(new Set(steps).size, steps.length, `a step shown twice: ${steps}`);
    // The refresh after the stream shows READY and keeps the steps shown.
    await page.waitForFunction(() => document.querySelector('#livelesson-status')?.textContent === 'READY', null, {
      timeout: STEP_MS,
    });
    assert.equal(await page.locator('#progress-steps li').count(), steps.length);
  });
});

test('every page answers and renders without errors', async () => {
  await withPage('every-page', async (page) => {
    for (const path of ['/ui', '/ui/jobs', '/ui/jobs?state=failed', '/ui/livelessons']) {
      const response = await page.goto(path);
      assert.equal(response.status(), 200, path);
      const headers = response.headers();
      assert.match(headers['content-security-policy'], /script-src 'self'/);
      assert.equal(headers['cache-control'], 'no-store');
      // One refresh cycle passes without errors.
      await page.waitForEvent('console', { predicate: () => false, timeout: 2_000 }).catch(() => {});
    }
    const first = await page.goto('/ui/jobs');
    assert.equal(first.status(), 200);
    await page.click('#job-list tbody tr a');
    await page.locator('#timeline').waitFor();
    // A bad filter is refused with its reason.
    const bad = await page.goto('/ui/jobs?state=lost');
    assert.equal(bad.status(), 400);
    assert.match(await page.locator('.error-message').innerText(), /unknown job state/);
  }, { allowedErrors: [/status of 400/] });
});
