/**
 * The log viewer in Chromium against a real controller and Docker: search that brings the
 * hit into view and finds text anywhere in a log bigger than what is loaded, jumps to the
 * start and the end, progress lines drawn as a terminal draws them, wrapping on request
 * (remembered), readable colours in both themes, and line numbers that are no tab stops.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cssContrast, over, parseColor } from '../../ui/src/contrast.ts';
import { SHOTS, startHarness, type El, type Harness, type Win } from './harness.ts';

const ESC = '\\033';
const COLOURS =
  [...Array(8).keys()].map((i) => `${ESC}[3${i}mc${i} `).join('') +
  [...Array(8).keys()].map((i) => `${ESC}[9${i}mc${i + 8} `).join('') +
  `${ESC}[0m\\n` +
  [...Array(8).keys()].map((i) => `${ESC}[4${i}mb${i}${ESC}[0m `).join('') +
  [...Array(8).keys()].map((i) => `${ESC}[10${i}mb${i + 8}${ESC}[0m `).join('') +
  `${ESC}[2mdim text${ESC}[0m\\n`;

const PIPELINE = `
jobs:
  progress:
    image: slipway/busybox:1
    network: offline
    steps:
      - run: |
          printf 'Downloading 10%%\\rDownloading 55%%\\rDownloading 100%%\\n'
          printf 'crlf line\\r\\n'
          printf 'abcdef\\rXY\\n'
          printf '${ESC}[32mok${ESC}[0m 3/3\\r${ESC}[Kall done\\n'
  colours:
    image: slipway/busybox:1
    network: offline
    steps:
      - printf '${COLOURS}'
  long:
    image: slipway/busybox:1
    network: offline
    steps:
      - run: |
          printf 'LONG-START-'
          i=0; while [ $i -lt 40 ]; do printf 'abcdefghij-0123456789-'; i=$((i+1)); done
          printf 'LONG-END\\n'
          echo the line after
  big:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo NEEDLE-AT-START; seq 1 200000 | sed 's/^/filler line /'; echo THE-END
`;

let h: Harness;
let buildId: number;
const runs = new Map<string, number>();

beforeAll(async () => {
  h = await startHarness({ branches: { main: PIPELINE } });
  buildId = await h.trigger('main');
  expect((await h.waitForBuild(buildId)).status).toBe('success');
  const detail = await h.api<{ jobRuns: { id: number; name: string }[] }>(
    'GET',
    `/api/v1/builds/${buildId}`,
  );
  for (const run of detail.jobRuns) runs.set(run.name, run.id);
}, 240_000);

afterAll(async () => {
  await h?.close();
});

afterEach(() => {
  expect(h.problems.splice(0)).toEqual([]);
});

async function openLog(page: Page, job: string, text: string): Promise<void> {
  await page.goto(`${h.url}/#/builds/${buildId}/${runs.get(job)}`);
  await page.locator('.log-box').getByText(text).first().waitFor({ timeout: 30_000 });
}

/** Whether the first log line holding `text` is inside the log box's visible area. */
function lineInView(page: Page, text: string): Promise<boolean> {
  return page.evaluate((needle) => {
    const w = globalThis as unknown as Win;
    const box = w.document.querySelector('.log-box')!.getBoundingClientRect();
    const line = Array.from(w.document.querySelectorAll('.log-box .line')).find((l) =>
      (l.textContent ?? '').includes(needle),
    );
    if (!line) return false;
    const r = line.getBoundingClientRect();
    return r.top >= box.top && r.bottom <= box.bottom && r.height > 0;
  }, text);
}

const shownLines = (page: Page): Promise<string[]> =>
  page.locator('.log-box .line .text').allTextContents();

describe('the log viewer', () => {
  it('draws progress lines as a terminal does: what follows a carriage return overwrites', async () => {
    const page = await h.page();
    await openLog(page, 'progress', 'all done');
    const lines = await shownLines(page);
    expect(lines).toEqual(['Downloading 100%', 'crlf line', 'XYcdef', 'all done']);
    await page.screenshot({ path: join(SHOTS, 'log-progress.png') });
    await page.close();
  }, 60_000);

  it('searches the whole log on the server, brings each hit into view, and jumps to the start and end', async () => {
    const page = await h.page();
    await openLog(page, 'big', 'THE-END');
    const box = page.locator('.log-box');
    // Only the tail is loaded: the first line is not in the page.
    expect(Number(await box.getAttribute('data-from'))).toBeGreaterThan(3_000_000);
    const search = page.getByLabel('Search the log');
    // A hit in the loaded part, far above the visible lines, is scrolled into view.
    await search.fill('filler line 190000');
    await expect.poll(() => lineInView(page, 'filler line 190000')).toBe(true);
    await page.locator('.search-count').getByText('1 of 1').waitFor();
    // A hit only the server can find: the window moves to it, with its real line number.
    const started = Date.now();
    await search.fill('needle-at-start');
    await expect.poll(() => lineInView(page, 'NEEDLE-AT-START'), { timeout: 30_000 }).toBe(true);
    const searchMs = Date.now() - started;
    await page
      .locator('.search-scope')
      .getByText(/in the whole log · line 1$/)
      .waitFor();
    expect(await page.locator('.search-count').textContent()).toBe('1 of 1');
    const hit = page.locator('.log-box .line.current');
    expect(await hit.locator('.ln').textContent()).toBe('1');
    expect(await hit.locator('.text').textContent()).toBe('NEEDLE-AT-START');
    await page.screenshot({ path: join(SHOTS, 'log-search-server.png') });
    // A line deep inside: its number comes from the server too.
    await search.fill('filler line 123456');
    await expect.poll(() => lineInView(page, 'filler line 123456'), { timeout: 30_000 }).toBe(true);
    expect(await page.locator('.log-box .line.current .ln').textContent()).toBe('123457');
    // Jump to the end, then to the start.
    await page.getByRole('button', { name: 'Jump to the end of the log' }).click();
    await expect.poll(() => lineInView(page, 'THE-END')).toBe(true);
    await page.getByRole('button', { name: 'Jump to the start of the log' }).click();
    await expect.poll(() => lineInView(page, 'NEEDLE-AT-START')).toBe(true);
    expect(await box.evaluate((el: unknown) => (el as El).scrollTop)).toBe(0);
    expect(await page.locator('.log-box .line .ln').first().textContent()).toBe('1');
    console.log(
      `server search of a ${await page.locator('.log-tools .muted').last().textContent()} log: ${searchMs} ms to the hit`,
    );
    await page.close();
  }, 90_000);

  it('wraps long lines on request and remembers the choice', async () => {
    const page = await h.page();
    await openLog(page, 'long', 'the line after');
    const geometry = () =>
      page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const box = w.document.querySelector('.log-box')!;
        const lines = Array.from(w.document.querySelectorAll('.log-box .line'));
        const long = lines.find((l) => (l.textContent ?? '').includes('LONG-END'))!;
        const after = lines.find((l) => (l.textContent ?? '').includes('the line after'))!;
        // The text node that ends with "LONG-END": the last segment of the line's text.
        const node = long.querySelector('.text')!.lastChild!.firstChild!;
        const length = (node.textContent ?? '').length;
        const range = w.document.createRange();
        range.setStart(node, length - 'LONG-END'.length);
        range.setEnd(node, length);
        const end = range.getBoundingClientRect();
        const b = box.getBoundingClientRect();
        return {
          overflows: box.scrollWidth > box.clientWidth + 1,
          endVisible: end.right <= b.right && end.bottom <= b.bottom,
          longHeight: long.getBoundingClientRect().height,
          afterBelow:
            after.getBoundingClientRect().top >= long.getBoundingClientRect().bottom - 0.5,
        };
      });
    const wrap = page.getByLabel('Wrap long lines');
    expect(await wrap.isChecked()).toBe(false);
    expect(await geometry()).toMatchObject({ overflows: true, endVisible: false, longHeight: 20 });
    await wrap.check();
    await expect
      .poll(geometry)
      .toMatchObject({ overflows: false, endVisible: true, afterBelow: true });
    expect((await geometry()).longHeight).toBeGreaterThanOrEqual(40);
    await page.screenshot({ path: join(SHOTS, 'log-wrapped.png') });
    // Remembered in this browser: a new page of the same profile wraps at once.
    await page.reload();
    await page.locator('.log-box').getByText('the line after').waitFor();
    expect(await page.getByLabel('Wrap long lines').isChecked()).toBe(true);
    await expect.poll(geometry).toMatchObject({ overflows: false, endVisible: true });
    await page.getByLabel('Wrap long lines').uncheck();
    await expect.poll(geometry).toMatchObject({ overflows: true });
    await page.close();
  }, 60_000);

  for (const theme of ['light', 'dark'] as const) {
    it(`keeps every ANSI colour readable on the log background (4.5:1, ${theme} theme)`, async () => {
      const page = await h.page({ colorScheme: theme });
      await openLog(page, 'colours', 'dim text');
      await page.getByLabel('Search the log').fill('c15');
      await page.locator('.log-box .line.match').first().waitFor();
      const seen = await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const css = (el: El) => w.getComputedStyle(el);
        const box = w.document.querySelector('.log-box')!;
        const match = w.document.querySelector('.log-box .line.match')!;
        return {
          background: css(box).backgroundColor,
          text: css(box).color,
          matchBackground: css(match).backgroundColor,
          lineNumber: css(w.document.querySelector('.log-box .ln')!).color,
          fg: Array.from(w.document.querySelectorAll('.log-box [class*="fg-"]')).map((el) => ({
            name: el.className,
            color: css(el).color,
          })),
          bg: Array.from(w.document.querySelectorAll('.log-box [class*="bg-"]')).map((el) => ({
            name: el.className,
            color: css(el).color,
            background: css(el).backgroundColor,
          })),
          dim: css(w.document.querySelector('.log-box .dim')!).color,
        };
      });
      expect(seen.fg).toHaveLength(16);
      expect(seen.bg).toHaveLength(16);
      const low: string[] = [];
      const check = (what: string, fg: string, bg: string, min: number) => {
        const ratio = cssContrast(fg, bg);
        if (ratio < min) low.push(`${what}: ${fg} on ${bg} is ${ratio.toFixed(2)}:1`);
      };
      const matchBg = parseColor(seen.matchBackground);
      const matchOpaque = `rgb(${over(matchBg.rgb, matchBg.alpha, parseColor(seen.background).rgb).join(', ')})`;
      check('text', seen.text, seen.background, 4.5);
      check('line numbers', seen.lineNumber, seen.background, 4.5);
      check('dim', seen.dim, seen.background, 4.5);
      for (const { name, color } of seen.fg) {
        check(name, color, seen.background, 4.5);
        check(`${name} on a search match`, color, matchOpaque, 4.5);
      }
      for (const { name, color, background } of seen.bg) check(name, color, background, 4.5);
      expect(low).toEqual([]);
      await page.screenshot({ path: join(SHOTS, `log-colours-${theme}.png`) });
      await page.close();
    }, 60_000);
  }

  it('keeps line numbers out of the tab order, and linkable by click', async () => {
    const page = await h.page();
    await openLog(page, 'progress', 'all done');
    expect(
      await page
        .locator('.log-box a.ln')
        .evaluateAll((links: unknown[]) => links.map((a) => (a as El).tabIndex)),
    ).toEqual([-1, -1, -1, -1]);
    // Tab from the search box: the keyboard reaches the log box, then leaves the log.
    await page.getByLabel('Search the log').focus();
    const visited: string[] = [];
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      visited.push(
        await page.evaluate(() => {
          const a = (globalThis as unknown as Win).document.activeElement;
          return a ? `${a.className}|${a.textContent?.slice(0, 20) ?? ''}` : '';
        }),
      );
      if (visited.at(-1)!.startsWith('log-box')) break;
    }
    expect(visited.some((v) => v.startsWith('log-box'))).toBe(true);
    expect(visited.filter((v) => v.startsWith('ln'))).toEqual([]);
    await page.keyboard.press('Tab');
    const next = await page.evaluate(
      () => (globalThis as unknown as Win).document.activeElement?.closest('.log-box') != null,
    );
    expect(next).toBe(false);
    // Still a link for the mouse: it opens the line's URL and marks the line.
    await page.locator('.log-box a.ln', { hasText: /^2$/ }).click();
    await expect
      .poll(() =>
        page.evaluate(
          () => (globalThis as unknown as { location: { hash: string } }).location.hash,
        ),
      )
      .toMatch(/\?L=2$/);
    await page.locator('.log-box .line.highlighted').getByText('crlf line').waitFor();
    await page.close();
  }, 60_000);
});
