/**
 * A signed-in tab whose token stops being valid, in Chromium against a real controller:
 * the controller is restarted with another admin token (as an operator rotating it would),
 * and the open page must go back to signing in, say why, and forget the old token.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOTS, startHarness, type Harness, type Win } from './harness.ts';

const PIPELINE = `jobs:\n  build:\n    image: slipway/busybox:1\n    network: offline\n    steps: [echo hi]\n`;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ branches: { main: PIPELINE }, token: 'first-token' });
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('the session', () => {
  it('returns to the sign-in page with a message when the token stops being valid', async () => {
    const id = await h.trigger('main');
    await h.waitForBuild(id);
    const page = await h.page();
    await page.goto(`${h.url}/#/builds/${id}`);
    await page.locator('.log-box').getByText('hi').waitFor();
    // The operator restarts the controller with a new token; the tab still holds the old one.
    await h.restart({ token: 'second-token' });
    // The live stream reconnects, is refused, and the whole app goes back to signing in.
    const notice = page.getByRole('alert').filter({ hasText: /session has ended/ });
    await notice.waitFor({ timeout: 30_000 });
    expect(await notice.textContent()).toMatch(/no longer accepts this token.*Sign in again/);
    await page.getByLabel('Admin token').waitFor();
    expect(await page.locator('#main').count()).toBe(0);
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as Win).sessionStorage.getItem('slipway.token'),
      ),
    ).toBeNull();
    await page.screenshot({ path: join(SHOTS, 'session-ended.png') });
    // Signing in with the new token goes back to the page the reader was on.
    await page.getByLabel('Admin token').fill('second-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.log-box').getByText('hi').waitFor();
    expect(page.url()).toMatch(new RegExp(`#/builds/${id}$`));
    expect(h.problems.splice(0)).toEqual([]);
    await page.close();
  }, 120_000);
});
