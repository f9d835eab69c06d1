/**
 * The pipeline graph in Chromium against a real controller and Docker: long matrix names
 * are readable on hover and on keyboard focus, and status, selection and focus stay apart
 * (a failed node stays red when selected; the focus ring keeps 3:1 on its background in
 * the light and the dark theme, computed from the page's own styles).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cssContrast } from '../../ui/src/contrast.ts';
import { SHOTS, startHarness, type Harness, type Win } from './harness.ts';

const PIPELINE = `
jobs:
  compile:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo compiled
  integration:
    image: slipway/busybox:1
    network: offline
    needs: [compile]
    matrix:
      platform: [debian-bookworm-slim, alpine-with-extras]
      database: [postgresql-16, mariadb-11]
    steps:
      - echo "\${{ matrix.platform }} \${{ matrix.database }}"
  lint:
    image: slipway/busybox:1
    network: offline
    steps:
      - echo "style problems"; exit 1
`;
const LONG = 'integration (platform: debian-bookworm-slim, database: postgresql-16)';

let h: Harness;
let buildId: number;

beforeAll(async () => {
  h = await startHarness({ branches: { main: PIPELINE } });
  buildId = await h.trigger('main');
  expect((await h.waitForBuild(buildId)).status).toBe('failure');
}, 180_000);

afterAll(async () => {
  await h?.close();
});

afterEach(() => {
  expect(h.problems.splice(0)).toEqual([]);
});

/** Presses Tab until the element matching `selector` has the focus (as a keyboard user would). */
async function tabTo(page: Page, selector: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const there = await page.evaluate(
      (s) => (globalThis as unknown as Win).document.activeElement?.closest(s) != null,
      selector,
    );
    if (there) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** The full name shown in the graph's label, and whether all of it is inside the graph's box. */
async function tip(page: Page): Promise<{ text: string; inside: boolean } | null> {
  return page.evaluate(() => {
    const w = globalThis as unknown as Win;
    const label = w.document.querySelector('.graph .node-tip text');
    const svg = w.document.querySelector('.graph');
    if (!label || !svg) return null;
    const a = label.getBoundingClientRect();
    const b = svg.getBoundingClientRect();
    return {
      text: label.textContent ?? '',
      inside: a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom,
    };
  });
}

describe('the pipeline graph', () => {
  it('shows a long matrix variant name whole on hover and on keyboard focus', async () => {
    const page = await h.page();
    await page.goto(`${h.url}/#/builds/${buildId}`);
    const node = page.locator(`[data-jobrun="${LONG}"]`);
    await node.waitFor();
    // The node itself has no room for the name: it is cut...
    expect(await node.locator('.node-name').textContent()).toMatch(/…$/);
    // ...and a hover shows all of it, inside the graph, not clipped.
    await node.hover();
    await expect.poll(() => tip(page)).toEqual({ text: LONG, inside: true });
    expect(await node.locator('title').textContent()).toBe(LONG);
    await page.screenshot({ path: join(SHOTS, 'graph-hover.png') });
    await page.mouse.move(0, 0);
    await expect.poll(() => tip(page)).toBeNull();
    // A keyboard user gets the same by tabbing to the node.
    await page.getByRole('link', { name: 'Dashboard' }).focus();
    await tabTo(page, `[data-jobrun="${LONG}"]`);
    await expect.poll(() => tip(page)).toEqual({ text: LONG, inside: true });
    await page.keyboard.press('Tab');
    await expect.poll(async () => (await tip(page))?.text).not.toBe(LONG);
    await page.close();
  }, 60_000);

  for (const theme of ['light', 'dark'] as const) {
    it(`keeps status, selection and focus apart, with a focus ring of 3:1 or more (${theme})`, async () => {
      const page = await h.page({ colorScheme: theme });
      await page.goto(`${h.url}/#/builds/${buildId}`);
      const lint = page.locator('[data-jobrun="lint"]');
      await lint.click();
      await page.getByRole('heading', { name: /^lint/ }).waitFor();
      await expect.poll(() => lint.getAttribute('aria-pressed')).toBe('true');
      const colours = await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const root = w.getComputedStyle(w.document.documentElement);
        const node = w.document.querySelector('[data-jobrun="lint"]')!;
        const box = w.document.querySelector('[data-jobrun="lint"] .box')!;
        const other = w.document.querySelector('[data-jobrun="compile"] .box')!;
        return {
          user: root.getPropertyValue('--user').trim(),
          stroke: w.getComputedStyle(box).stroke,
          selectedFill: w.getComputedStyle(box).fill,
          otherFill: w.getComputedStyle(other).fill,
          pressed: node.getAttribute('aria-pressed'),
        };
      });
      // The failed node keeps its red outline while selected; the selection shows as a fill.
      expect(colours.stroke).toBe(hexToRgb(colours.user));
      expect(colours.selectedFill).not.toBe(colours.otherFill);
      expect(await lint.locator('.selection-mark').count()).toBe(1);
      // Keyboard focus: a ring of its own, in a colour that is no status colour.
      await page.getByRole('link', { name: 'Dashboard' }).focus();
      await tabTo(page, '[data-jobrun="lint"]');
      const ring = await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const root = w.getComputedStyle(w.document.documentElement);
        const el = w.document.querySelector('[data-jobrun="lint"] .focus-ring')!;
        const wrap = w.document.querySelector('.graph-wrap')!;
        return {
          ring: w.getComputedStyle(el).stroke,
          width: w.getComputedStyle(el).strokeWidth,
          behind: w.getComputedStyle(wrap).backgroundColor,
          box: w.getComputedStyle(w.document.querySelector('[data-jobrun="lint"] .box')!).stroke,
          statuses: ['--ok', '--user', '--infra', '--running', '--accent'].map((v) =>
            root.getPropertyValue(v).trim(),
          ),
        };
      });
      expect(ring.ring).not.toBe('none');
      expect(parseFloat(ring.width)).toBeGreaterThanOrEqual(2);
      expect(cssContrast(ring.ring, ring.behind)).toBeGreaterThanOrEqual(3);
      expect(ring.statuses.map(hexToRgb)).not.toContain(ring.ring);
      expect(ring.box).toBe(colours.stroke);
      // The same ring colour on ordinary controls, against what is behind them.
      await page.getByRole('link', { name: 'Dashboard' }).focus();
      await tabTo(page, '.actions button:nth-of-type(2)');
      const control = await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const el = w.document.activeElement!;
        // The actions row and the page's main area are transparent: the page shows through.
        const colour = w.getComputedStyle(w.document.body).backgroundColor;
        return {
          outline: w.getComputedStyle(el).outlineColor,
          style: w.getComputedStyle(el).outlineStyle,
          behind: colour,
        };
      });
      expect(control.style).toBe('solid');
      expect(cssContrast(control.outline, control.behind)).toBeGreaterThanOrEqual(3);
      // The selected step keeps its selection mark and still shows the focus ring.
      await tabTo(page, '.steps a[aria-current="true"]');
      const step = await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        const css = w.getComputedStyle(w.document.activeElement!);
        return { outline: css.outlineColor, style: css.outlineStyle, mark: css.boxShadow };
      });
      expect(step).toMatchObject({ outline: control.outline, style: 'solid' });
      expect(step.mark).toMatch(/inset/);
      await lint.focus();
      await page.screenshot({ path: join(SHOTS, `graph-selected-focused-${theme}.png`) });
      await page.close();
    }, 60_000);
  }
});

function hexToRgb(hex: string): string {
  const h = hex.trim().replace('#', '');
  const n = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  return `rgb(${n.join(', ')})`;
}
