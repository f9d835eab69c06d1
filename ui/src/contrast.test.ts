import { describe, expect, it } from 'vitest';
import { contrast, cssContrast, parseColor } from './contrast.ts';

describe('contrast', () => {
  it('gives the WCAG ratios of known pairs', () => {
    expect(contrast([0, 0, 0], [255, 255, 255])).toBeCloseTo(21, 5);
    expect(contrast([255, 255, 255], [255, 255, 255])).toBe(1);
    // #767676 on white is the classic 4.54:1 grey.
    expect(cssContrast('#767676', '#ffffff')).toBeCloseTo(4.54, 2);
    expect(cssContrast('rgb(118, 118, 118)', 'rgb(255, 255, 255)')).toBeCloseTo(4.54, 2);
  });

  it('paints a translucent colour over its background before comparing', () => {
    expect(cssContrast('rgba(0, 0, 0, 0)', 'rgb(255, 255, 255)')).toBe(1);
    expect(cssContrast('rgb(0 0 0 / 50%)', '#fff')).toBeLessThan(cssContrast('#000', '#fff'));
  });

  it('refuses what it cannot read rather than guessing', () => {
    expect(() => parseColor('oklab(0.5 0 0)')).toThrow(/not a colour/);
    expect(() => cssContrast('#000', 'rgba(0, 0, 0, 0.5)')).toThrow(/not opaque/);
  });
});
