/**
 * Terminal safety: a build's output must not drive the user's terminal. Escape sequences
 * can clear the screen, move the cursor over earlier lines, set the clipboard (OSC 52),
 * plant links (OSC 8), change the title, remap keys or answer queries into the input.
 * This filter passes text, `\t`, `\n`, `\r` and colour (SGR, `ESC [ 0-9;: m`) and removes
 * every other escape sequence (CSI, OSC, DCS, SOS, PM, APC, two-byte escapes) and every
 * other C0 and C1 control, including C1 controls written as U+0080–U+009F.
 *
 * It is a streaming state machine (a sequence may be split across writes), modelled on the
 * ECMA-48 / DEC parser that terminals use. Whatever state it is in, what it emits is safe:
 * it never emits a sequence introducer except in front of a complete SGR it has checked.
 * A line end ends any sequence being read, so an unterminated one cannot swallow more
 * than the rest of its line.
 */

/** How colour sequences are treated: kept (a terminal that takes colours) or removed. */
export interface TerminalFilterOptions {
  colors: boolean;
}

type State = 'ground' | 'escape' | 'escape-intermediate' | 'csi' | 'csi-ignore' | 'string';

const ESC = 0x1b;
const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;
/** Longest CSI parameter string kept; longer ones are read to their end and dropped. */
const MAX_CSI = 64;
/** Characters that need the state machine: controls other than \t \n \r, DEL, C1. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NEEDS_WORK = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export class TerminalFilter {
  private state: State = 'ground';
  /** After ESC inside a string: `\` ends it, anything else starts a new sequence. */
  private stringEscape = false;
  private params = '';

  constructor(private readonly options: TerminalFilterOptions) {}

  /** Filters the next piece of text; sequences split across pieces are recognised. */
  write(text: string): string {
    if (this.state === 'ground' && !NEEDS_WORK.test(text)) return text;
    let out = '';
    let run = -1; // start of a run of plain text in the ground state
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.state === 'ground') {
        if (c >= 0x20 ? c < 0x7f || c > 0x9f : c === 0x09 || c === 0x0a || c === 0x0d) {
          if (run < 0) run = i;
          continue;
        }
        if (run >= 0) out += text.slice(run, i);
        run = -1;
        this.ground(c);
        continue;
      }
      if (c === 0x0a) {
        // A line end ends whatever sequence was being read, and is kept.
        this.state = 'ground';
        if (run < 0) run = i;
        continue;
      }
      const emitted = this.inSequence(c);
      if (emitted === undefined) {
        // The character ended the sequence without belonging to it: read it as text.
        i--;
        continue;
      }
      out += emitted;
    }
    if (run >= 0) out += text.slice(run);
    return out;
  }

  /** Drops a sequence left unfinished (at the end of a line or of the output). */
  reset(): void {
    this.state = 'ground';
    this.stringEscape = false;
    this.params = '';
  }

  /** A control character in the ground state: maybe the start of a sequence, never printed. */
  private ground(c: number): void {
    if (c === ESC) this.state = 'escape';
    else if (c === 0x9b) this.startCsi();
    else if (c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f) this.startString();
  }

  private startCsi(): void {
    this.state = 'csi';
    this.params = '';
  }

  private startString(): void {
    this.state = 'string';
    this.stringEscape = false;
  }

  /**
   * One character inside a sequence: returns what to print (a checked SGR, or nothing), or
   * undefined when the character is not part of the sequence and must be read again as text.
   */
  private inSequence(c: number): string | undefined {
    if (c === CAN || c === SUB) {
      this.state = 'ground';
      return '';
    }
    switch (this.state) {
      case 'string':
        if (this.stringEscape) {
          this.stringEscape = false;
          if (c === 0x5c) {
            this.state = 'ground'; // ESC \ is the string terminator
            return '';
          }
          this.state = 'escape'; // the ESC began a new sequence
          return this.inSequence(c);
        }
        if (c === ESC) this.stringEscape = true;
        else if (c === BEL || c === 0x9c) this.state = 'ground';
        return '';
      case 'escape':
        if (c === ESC) return '';
        if (c === 0x5b) this.startCsi();
        else if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f)
          this.startString();
        else if (c >= 0x20 && c <= 0x2f) this.state = 'escape-intermediate';
        else if (c >= 0x30 && c <= 0x7e) this.state = 'ground';
        else if (c >= 0x7f) return this.abandon();
        return '';
      case 'escape-intermediate':
        if (c === ESC) this.state = 'escape';
        else if (c >= 0x30 && c <= 0x7e) this.state = 'ground';
        else if (c >= 0x7f) return this.abandon();
        return '';
      case 'csi':
      case 'csi-ignore':
        if (c === ESC) {
          this.state = 'escape';
          return '';
        }
        if (c >= 0x20 && c <= 0x3f) {
          if (this.state === 'csi') {
            this.params += String.fromCharCode(c);
            if (this.params.length > MAX_CSI) this.state = 'csi-ignore';
          }
          return '';
        }
        if (c >= 0x40 && c <= 0x7e) {
          const keep =
            this.state === 'csi' &&
            c === 0x6d &&
            this.options.colors &&
            /^[0-9;:]*$/.test(this.params);
          this.state = 'ground';
          return keep ? `\u001b[${this.params}m` : '';
        }
        if (c >= 0x7f) return this.abandon();
        return ''; // other C0 controls inside a sequence are dropped
      default:
        return '';
    }
  }

  private abandon(): undefined {
    this.state = 'ground';
    return undefined;
  }
}

/** Filters one complete piece of text (a line, a message) with a fresh state. */
export function sanitizeForTerminal(text: string, options: TerminalFilterOptions): string {
  return new TerminalFilter(options).write(text);
}

/**
 * How a terminal would show a line with carriage returns (a progress bar): what follows the
 * last `\r`, keeping the colours set before it. A `\r` before the line end is dropped.
 */
export function renderCarriageReturns(line: string): string {
  const trimmed = line.replace(/\r+$/, '');
  const at = trimmed.lastIndexOf('\r');
  if (at < 0) return trimmed;
  // eslint-disable-next-line no-control-regex -- SGR sequences kept by the filter
  const colours = trimmed.slice(0, at).match(/\u001b\[[0-9;:]*m/g) ?? [];
  return colours.join('') + trimmed.slice(at + 1);
}
