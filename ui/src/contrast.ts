/**
 * WCAG 2 contrast between colours as the browser reports them (`rgb()`, `rgba()`, `#hex`).
 * Used by the tests that check the palette and the focus ring against their backgrounds
 * from computed styles, so the numbers are those of the real page.
 */

export type Rgb = readonly [number, number, number];

/** Parses `rgb(1, 2, 3)`, `rgba(1, 2, 3, 0.5)`, `rgb(1 2 3 / 50%)` or `#rgb`/`#rrggbb`. */
export function parseColor(css: string): { rgb: Rgb; alpha: number } {
  const text = css.trim().toLowerCase();
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/.exec(text);
  if (hex) {
    const h = hex[1]!;
    const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h;
    return {
      rgb: [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16)) as unknown as Rgb,
      alpha: 1,
    };
  }
  const fn = /^rgba?\(([^)]*)\)$/.exec(text);
  if (!fn) throw new Error(`not a colour this check understands: "${css}"`);
  const parts = fn[1]!.split(/[\s,/]+/).filter(Boolean);
  if (parts.length < 3) throw new Error(`not a colour this check understands: "${css}"`);
  const alphaText = parts[3];
  const alpha =
    alphaText === undefined
      ? 1
      : alphaText.endsWith('%')
        ? Number(alphaText.slice(0, -1)) / 100
        : Number(alphaText);
  return { rgb: [Number(parts[0]), Number(parts[1]), Number(parts[2])], alpha };
}

/** A colour with `alpha` painted over an opaque background. */
export function over(top: Rgb, alpha: number, below: Rgb): Rgb {
  return [0, 1, 2].map((i) => top[i]! * alpha + below[i]! * (1 - alpha)) as unknown as Rgb;
}

/** Relative luminance (WCAG 2). */
export function luminance([r, g, b]: Rgb): number {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Contrast ratio, from 1 (none) to 21 (black on white). */
export function contrast(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** Contrast of two CSS colours; a translucent foreground is painted over the background first. */
export function cssContrast(foreground: string, background: string): number {
  const bg = parseColor(background);
  if (bg.alpha < 1) throw new Error(`the background "${background}" is not opaque`);
  const fg = parseColor(foreground);
  return contrast(over(fg.rgb, fg.alpha, bg.rgb), bg.rgb);
}
