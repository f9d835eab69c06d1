/**
 * ANSI escape sequences → styled segments, for the log viewer. Only an allow-list of
 * styles survives (16 colours, bold, dim, italic, underline); 256/true colours map to the
 * nearest of the 16; every other escape is dropped. OSC-8 hyperlinks become links only
 * for http(s) URLs. The result is plain data: the viewer renders it as text nodes, never
 * as HTML, so log text cannot inject markup.
 *
 * A line is drawn as a terminal would: a carriage return (`\r`) moves back to column 0 and
 * what follows overwrites what was there (progress bars), a backspace moves back one
 * column, and erase-in-line (`ESC[K`, `ESC[1K`, `ESC[2K`) clears. The `\r` of a `\r\n`
 * line ending therefore changes nothing.
 */

export interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

export interface Segment {
  text: string;
  style: Style;
  href: string | null;
}

const PLAIN: Style = {
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
};

/** A safe link target, or null: only absolute http(s) URLs. */
export function safeHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

function nearest16(r: number, g: number, b: number): number {
  const bright = Math.max(r, g, b) > 170 ? 8 : 0;
  const bit = (v: number): number => (v > 90 ? 1 : 0);
  return bright + bit(r) + bit(g) * 2 + bit(b) * 4;
}

function from256(n: number): number {
  if (n < 16) return n;
  if (n >= 232) return n > 243 ? 7 : 8;
  const i = n - 16;
  const scale = [0, 95, 135, 175, 215, 255];
  return nearest16(scale[Math.floor(i / 36)]!, scale[Math.floor(i / 6) % 6]!, scale[i % 6]!);
}

function applySgr(style: Style, params: number[]): Style {
  const next = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(next, PLAIN);
    else if (p === 1) next.bold = true;
    else if (p === 2) next.dim = true;
    else if (p === 3) next.italic = true;
    else if (p === 4) next.underline = true;
    else if (p === 22) next.bold = next.dim = false;
    else if (p === 23) next.italic = false;
    else if (p === 24) next.underline = false;
    else if (p >= 30 && p <= 37) next.fg = p - 30;
    else if (p >= 90 && p <= 97) next.fg = p - 90 + 8;
    else if (p === 39) next.fg = null;
    else if (p >= 40 && p <= 47) next.bg = p - 40;
    else if (p >= 100 && p <= 107) next.bg = p - 100 + 8;
    else if (p === 49) next.bg = null;
    else if (p === 38 || p === 48) {
      let colour: number | null = null;
      if (params[i + 1] === 5 && params[i + 2] !== undefined) {
        colour = from256(params[i + 2]!);
        i += 2;
      } else if (params[i + 1] === 2 && params[i + 4] !== undefined) {
        colour = nearest16(params[i + 2]!, params[i + 3]!, params[i + 4]!);
        i += 4;
      }
      if (p === 38) next.fg = colour;
      else next.bg = colour;
    }
  }
  return next;
}

/** One column of a line being drawn with cursor moves. */
interface Cell {
  ch: string;
  style: Style;
  href: string | null;
}

/**
 * Draws text on a line of cells: most lines never move the cursor, so they are kept as a
 * plain string until the first `\r`, backspace or erase asks for columns.
 */
class LineCanvas {
  private text = '';
  private textStyle: Style = PLAIN;
  private textHref: string | null = null;
  private readonly plain: Segment[] = [];
  private cells: Cell[] | null = null;
  private cursor = 0;
  /** A `\r` not yet acted on: a `\r\n` line ending never needs columns. */
  private pendingReturn = false;

  write(text: string, style: Style, href: string | null): void {
    if (this.cells === null && !this.pendingReturn) {
      if (style !== this.textStyle || href !== this.textHref) this.flushText();
      this.textStyle = style;
      this.textHref = href;
      this.text += text;
      return;
    }
    const cells = this.columns();
    for (const ch of text) {
      while (cells.length < this.cursor) cells.push({ ch: ' ', style: PLAIN, href: null });
      cells[this.cursor++] = { ch, style, href };
    }
  }

  /** `\r`: back to the first column. */
  carriageReturn(): void {
    if (this.cells === null) this.pendingReturn = true;
    else this.cursor = 0;
  }

  backspace(): void {
    this.columns();
    this.cursor = Math.max(0, this.cursor - 1);
  }

  /** Erase in line: 0 from the cursor to the end, 1 from the start to the cursor, 2 all. */
  erase(mode: number): void {
    // At the end of a plain line, erasing to the end changes nothing.
    if (mode === 0 && this.cells === null && !this.pendingReturn) return;
    const cells = this.columns();
    if (mode === 0) cells.length = Math.min(cells.length, this.cursor);
    else if (mode === 2) cells.length = 0;
    else
      for (let i = 0; i < Math.min(cells.length, this.cursor + 1); i++)
        cells[i] = { ch: ' ', style: PLAIN, href: null };
  }

  segments(): Segment[] {
    if (this.cells === null) {
      this.flushText();
      return this.plain;
    }
    const out: Segment[] = [];
    for (const cell of this.cells) {
      const last = out.at(-1);
      if (last && last.style === cell.style && last.href === cell.href) last.text += cell.ch;
      else out.push({ text: cell.ch, style: cell.style, href: cell.href });
    }
    return out;
  }

  private flushText(): void {
    if (this.text) this.plain.push({ text: this.text, style: this.textStyle, href: this.textHref });
    this.text = '';
  }

  /** Switches to drawing by columns (once), with the cursor where the text so far ends. */
  private columns(): Cell[] {
    if (this.cells === null) {
      this.flushText();
      this.cells = [];
      for (const segment of this.plain)
        for (const ch of segment.text)
          this.cells.push({ ch, style: segment.style, href: segment.href });
      this.cursor = this.cells.length;
    }
    if (this.pendingReturn) {
      this.cursor = 0;
      this.pendingReturn = false;
    }
    return this.cells;
  }
}

/** Converts one line (or any text) into segments; the style carries over between calls. */
export function parseAnsi(text: string, start: Style = PLAIN): { segments: Segment[]; end: Style } {
  const canvas = new LineCanvas();
  let style = start;
  let href: string | null = null;
  let run = 0;
  const flush = (at: number): void => {
    if (at > run) canvas.write(text.slice(run, at), style, href);
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch >= 0x20 || ch === 0x09) continue;
    flush(i);
    run = i + 1;
    if (ch === 0x0d) {
      canvas.carriageReturn();
      continue;
    }
    if (ch === 0x08) {
      canvas.backspace();
      continue;
    }
    // Other control characters (except tab) are dropped.
    if (ch !== 0x1b) continue;
    const next = text[i + 1];
    if (next === '[') {
      let j = i + 2;
      while (j < text.length && !/[@-~]/.test(text[j]!)) j++;
      const body = text.slice(i + 2, j);
      if (text[j] === 'm') {
        const params = body
          .split(/[;:]/)
          .map((s) => (s === '' ? 0 : Number(s)))
          .filter((n) => Number.isFinite(n));
        style = applySgr(style, params.length ? params : [0]);
      } else if (text[j] === 'K') canvas.erase(Number(body || 0));
      i = j;
    } else if (next === ']') {
      // OSC: up to BEL or ST (ESC \).
      let j = i + 2;
      while (
        j < text.length &&
        text.charCodeAt(j) !== 0x07 &&
        !(text[j] === '\x1b' && text[j + 1] === '\\')
      )
        j++;
      const body = text.slice(i + 2, j);
      if (body.startsWith('8;')) {
        const url = body.slice(body.indexOf(';', 2) + 1);
        href = url ? safeHref(url) : null;
      }
      i = text[j] === '\x1b' ? j + 1 : j;
    } else {
      i += 1; // a two-character escape: drop it
    }
    run = i + 1;
  }
  flush(text.length);
  return { segments: canvas.segments(), end: style };
}

/** CSS classes of a style: fixed names only (`fg-3`, `bold`), never text from the log. */
export function styleClasses(style: Style): string {
  const classes: string[] = [];
  if (style.fg !== null) classes.push(`fg-${style.fg}`);
  if (style.bg !== null) classes.push(`bg-${style.bg}`);
  if (style.bold) classes.push('bold');
  if (style.dim) classes.push('dim');
  if (style.italic) classes.push('italic');
  if (style.underline) classes.push('underline');
  return classes.join(' ');
}
