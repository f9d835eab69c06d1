/**
 * The pages around builds, in Chromium against a real controller and Docker: how the
 * queue names builds, unknown jobs and builds, a job's first build in the duration chart,
 * the job page on a phone, times in the viewer's zone, and a build's inputs.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dateTime } from '../../ui/src/format.ts';
import { SHOTS, startHarness, type Harness, type Win } from './harness.ts';

const LONG_JOB = 'payments_service_integration_nightly';
const LONG_BRANCH = 'feature/checkout_flow_on_very_small_screens_and_tablets';
const APP = `
on:
  manual:
    inputs:
      greeting:
        type: string
        default: hello
        description: What to print, e.g. hello-from-a-rather-long-example-value
      level: { type: choice, options: [low, high], default: low }
      dry_run_of_the_deployment_step: { type: boolean, default: false }
jobs:
  build:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "\${{ inputs.greeting }} at \${{ inputs.level }}"
`;
const SOLO = `jobs:\n  once:\n    image: slipway/busybox:1\n    network: offline\n    steps:\n      - sleep 1; echo done\n`;
const SLOW = `jobs:\n  slow:\n    image: slipway/busybox:1\n    network: offline\n    steps:\n      - echo started; sleep 120\n`;
const STUCK = `jobs:\n  on-a-gpu:\n    image: slipway/busybox:1\n    labels: gpu\n    steps: [echo never]\n`;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    branches: { main: APP, solo: SOLO, slow: SLOW, stuck: STUCK, [LONG_BRANCH]: APP },
    jobs: (repo) =>
      `jobs:\n  app:\n    repo: ${repo}\n  solo:\n    repo: ${repo}\n    branch: solo\n  ${LONG_JOB}:\n    repo: ${repo}\n`,
  });
}, 180_000);

afterAll(async () => {
  await h?.close();
});

afterEach(() => {
  expect(h.problems.splice(0)).toEqual([]);
});

describe('the pages', () => {
  it('names queued and running builds by job and number, not by internal ids', async () => {
    const stuck = await h.trigger('stuck');
    const slow = await h.trigger('slow');
    try {
      const numbers = {
        stuck: (await h.api<{ number: number }>('GET', `/api/v1/builds/${stuck}`)).number,
        slow: (await h.api<{ number: number }>('GET', `/api/v1/builds/${slow}`)).number,
      };
      const page = await h.page();
      await page.getByRole('link', { name: 'Queue & agents' }).click();
      const queued = page.getByRole('region', { name: 'Queued attempts' });
      await queued.getByRole('link', { name: `app #${numbers.stuck}` }).waitFor();
      await expect.poll(() => queued.textContent()).toMatch(/on-a-gpu/);
      const agents = page.getByRole('table', { name: 'Agents' });
      await agents.getByRole('link', { name: `app #${numbers.slow}` }).waitFor({ timeout: 60_000 });
      // The internal ids appear nowhere the user reads.
      const text = `${await queued.textContent()} ${await agents.textContent()}`;
      expect(text).not.toMatch(/build \d+/);
      expect(await queued.getByRole('link').first().getAttribute('href')).toBe(`#/builds/${stuck}`);
      await page.screenshot({ path: join(SHOTS, 'queue-names.png'), fullPage: true });
      await page.close();
    } finally {
      await h.api('POST', `/api/v1/builds/${stuck}/cancel`);
      await h.api('POST', `/api/v1/builds/${slow}/cancel`);
      await h.waitForBuild(slow);
    }
  }, 120_000);

  it('says so when a job or a build does not exist, instead of an empty page', async () => {
    const page = await h.page();
    await page.goto(`${h.url}/#/jobs/no-such-job`);
    await page.getByRole('heading', { name: 'Job not found' }).waitFor();
    await page.getByText('There is no job named "no-such-job"').waitFor();
    // No trigger form, no history, no raw API error for a job that is not there.
    expect(await page.getByRole('form', { name: 'Trigger a build' }).count()).toBe(0);
    expect(await page.getByRole('table', { name: 'Builds' }).count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'unknown-job.png') });
    await page.goto(`${h.url}/#/builds/987654`);
    await page.getByRole('heading', { name: 'Build not found' }).waitFor();
    await page.getByText('There is no build with id 987654').waitFor();
    await page.getByRole('link', { name: 'Go to the dashboard' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.close();
  });

  it('draws a job with one build as one bar of normal width on a labelled axis', async () => {
    const id = await h.trigger('solo', {}, 'solo');
    expect((await h.waitForBuild(id)).status).toBe('success');
    const page = await h.page();
    await page.goto(`${h.url}/#/jobs/solo`);
    const chart = page.getByRole('img', { name: /Durations and outcomes/ });
    await chart.waitFor();
    const bars = chart.locator('rect.bar');
    await expect.poll(() => bars.count()).toBe(1);
    const box = (await bars.boundingBox())!;
    const chartBox = (await chart.boundingBox())!;
    // One bar, not one stretched over the whole chart.
    expect(box.width).toBeGreaterThan(2);
    expect(box.width).toBeLessThan(chartBox.width / 10);
    expect(box.height).toBeGreaterThan(chartBox.height / 2);
    const svg = await chart.evaluate((el: unknown) => (el as { outerHTML: string }).outerHTML);
    expect(svg).not.toMatch(/NaN|Infinity/);
    // The axis says what the height means: from 0 s up to this build's duration.
    const ticks = await chart.locator('text.tick').allTextContents();
    expect(ticks).toContain('0 s');
    expect(ticks.some((t) => /^\d+(\.\d)? s$/.test(t))).toBe(true);
    expect(ticks).toContain('build #1');
    await page.screenshot({ path: join(SHOTS, 'one-build-chart.png') });
    await page.close();
  }, 90_000);

  it('fits the job page on a 390 px wide phone without scrolling sideways', async () => {
    // Real names are long: a job named after its service, a branch named after its change.
    const id = await h.trigger(LONG_BRANCH, { greeting: 'a-rather-long-greeting-value' }, LONG_JOB);
    await h.waitForBuild(id);
    const page = await h.page({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.goto(`${h.url}/#/jobs/${LONG_JOB}`);
    await page.getByRole('table', { name: 'Builds' }).getByRole('link').first().waitFor();
    await page.getByLabel('greeting').waitFor();
    await page.getByRole('cell', { name: LONG_BRANCH }).waitFor();
    const widths = await page.evaluate(() => {
      const root = (globalThis as unknown as Win).document.documentElement;
      return { scroll: root.scrollWidth, client: root.clientWidth };
    });
    expect(widths.client).toBe(390);
    expect(widths.scroll).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, 'job-phone.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('shows times in the viewer zone with the zone named, in the build and in its log', async () => {
    const id = await h.trigger('main', { greeting: 'namaste', level: 'high' });
    const build = await h.waitForBuild(id);
    const zone = { timeZone: 'Asia/Kolkata', locale: 'en-GB' };
    const page = await h.page({ timezoneId: zone.timeZone, locale: zone.locale });
    await page.goto(`${h.url}/#/builds/${id}`);
    const meta = page.locator('p.meta');
    await meta.waitFor();
    // The server runs in UTC; the viewer is 5½ hours ahead and sees its own clock.
    expect(await meta.textContent()).toContain(
      `created ${dateTime(build.createdAt, Date.now(), zone)}`,
    );
    expect(await meta.textContent()).toContain('GMT+5:30');
    await page.locator('.log-box').getByText('namaste at high').waitFor();
    await page.getByLabel(/Timestamps \(GMT\+5:30\)/).check();
    const stamp = page.locator('.log-box .ts').first();
    await stamp.waitFor();
    expect(await stamp.getAttribute('title')).toMatch(/\+05:30$/);
    const [hour, minute] = (await stamp.textContent())!.split(':').map(Number);
    const local = new Date(build.createdAt + 5.5 * 3600_000);
    const minutes =
      (hour! * 60 + minute! - (local.getUTCHours() * 60 + local.getUTCMinutes()) + 1440) % 1440;
    expect(minutes).toBeLessThanOrEqual(2);
    await page.screenshot({ path: join(SHOTS, 'times-kolkata.png') });
    await page.close();
  }, 60_000);

  it('shows the inputs a build was started with', async () => {
    const page = await h.page();
    await page.goto(`${h.url}/#/jobs/app`);
    await page.getByLabel('greeting').fill('<b>bold</b> & plain');
    await page.getByLabel('level').selectOption('high');
    await page.getByRole('button', { name: 'Run' }).click();
    const inputs = page.getByRole('region', { name: 'Commit and inputs' });
    await inputs.locator('[data-input="greeting"]').waitFor();
    expect(await inputs.locator('[data-input="greeting"] dd').textContent()).toBe(
      '<b>bold</b> & plain',
    );
    expect(await inputs.locator('[data-input="level"] dd').textContent()).toBe('high');
    expect(await page.locator('#main b').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'build-inputs.png') });
    await page.close();
  }, 60_000);
});
