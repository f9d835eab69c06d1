/**
 * The quoting context at a place in a POSIX shell script: whether text there is read bare,
 * inside double quotes, inside single quotes, in a here-document, and so on. The compiler
 * uses it to replace an untrusted `${{ }}` by a variable reference that reads the same
 * there (see untrusted.ts). A lexer, not a parser: it follows quotes, `$( )`, `$(( ))`,
 * `${ }`, backquotes, comments and here-documents, which is all that decides quoting.
 *
 * A wrong answer here never makes a script unsafe: the value is always passed as a
 * variable and the shell never parses a variable's value as code. It would only change
 * how the value arrives (split into words, or with quotes around it).
 */

export type QuoteContext =
  /** Unquoted: a word of a command (also inside `$( )` and backquotes). */
  | 'bare'
  /** Inside "double quotes" (also `${x:-...}` inside them). */
  | 'double'
  /** Inside 'single quotes': nothing is expanded. */
  | 'single'
  /** Inside bash's $'ANSI-C quotes'. */
  | 'ansi'
  /** In the body of a here-document whose delimiter is not quoted: `$VAR` is expanded. */
  | 'heredoc'
  /** In the body of a here-document with a quoted delimiter (`<<'EOF'`): nothing is expanded. */
  | 'literal-heredoc'
  /** Inside `$(( ))`, where bash evaluates a variable's text as arithmetic (code). */
  | 'arithmetic'
  /** In a `#` comment. */
  | 'comment';

type Frame =
  | { kind: 'bare' | 'double' | 'backquote' }
  | { kind: 'command'; depth: number }
  | { kind: 'arithmetic'; depth: number }
  | { kind: 'param'; inDouble: boolean };

interface Heredoc {
  delimiter: string;
  literal: boolean;
  stripTabs: boolean;
}

const WORD_START = new Set(['', ' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);

/** The context of every character of `script`, by offset. */
export function quoteContexts(script: string): QuoteContext[] {
  const n = script.length;
  const out: QuoteContext[] = new Array<QuoteContext>(n).fill('bare');
  const stack: Frame[] = [{ kind: 'bare' }];
  const pending: Heredoc[] = [];
  const top = (): Frame => stack[stack.length - 1]!;
  const current = (): QuoteContext => {
    for (let k = stack.length - 1; k >= 0; k--) {
      const frame = stack[k]!;
      switch (frame.kind) {
        case 'double':
          return 'double';
        case 'arithmetic':
          return 'arithmetic';
        case 'param':
          return frame.inDouble ? 'double' : 'bare';
        default:
          return 'bare';
      }
    }
    return 'bare';
  };
  const mark = (from: number, to: number, context: QuoteContext): void => {
    for (let k = from; k < Math.min(to, n); k++) out[k] = context;
  };

  let i = 0;
  while (i < n) {
    const c = script.charAt(i);
    const next = script.charAt(i + 1);
    const frame = top();
    const here = current();
    out[i] = here;
    if (c === '\\') {
      mark(i, i + 2, here);
      i += 2;
      continue;
    }
    if (frame.kind === 'double') {
      if (c === '"') stack.pop();
      else if (c === '`') stack.push({ kind: 'backquote' });
      else if (c === '$' && next === '(') i = openParen(i);
      else if (c === '$' && next === '{') {
        stack.push({ kind: 'param', inDouble: true });
        i++;
      }
      i++;
      continue;
    }
    // Unquoted text: top level, `$( )`, backquotes, `$(( ))`, `${ }`.
    if (c === "'" && !(frame.kind === 'param' && frame.inDouble)) {
      const end = script.indexOf("'", i + 1);
      const stop = end < 0 ? n : end;
      mark(i + 1, stop, 'single');
      i = stop + 1;
      continue;
    }
    if (c === '$' && next === "'") {
      let k = i + 2;
      while (k < n && script.charAt(k) !== "'") k += script.charAt(k) === '\\' ? 2 : 1;
      mark(i + 2, k, 'ansi');
      i = k + 1;
      continue;
    }
    if (c === '"') stack.push({ kind: 'double' });
    else if (c === '`') {
      if (frame.kind === 'backquote') stack.pop();
      else stack.push({ kind: 'backquote' });
    } else if (c === '$' && next === '(') i = openParen(i);
    else if (c === '$' && next === '{') {
      stack.push({ kind: 'param', inDouble: false });
      i++;
    } else if (c === '}' && frame.kind === 'param') stack.pop();
    else if (c === '(' && (frame.kind === 'command' || frame.kind === 'arithmetic')) frame.depth++;
    else if (c === ')' && frame.kind === 'command') {
      if (frame.depth === 0) stack.pop();
      else frame.depth--;
    } else if (c === ')' && frame.kind === 'arithmetic') {
      if (frame.depth === 0 && next === ')') {
        stack.pop();
        out[i + 1] = here;
        i++;
      } else if (frame.depth > 0) frame.depth--;
    } else if (c === '#' && frame.kind !== 'arithmetic' && frame.kind !== 'param') {
      if (WORD_START.has(script.charAt(i - 1))) {
        const end = script.indexOf('\n', i);
        const stop = end < 0 ? n : end;
        mark(i, stop, 'comment');
        i = stop;
        continue;
      }
    } else if (c === '<' && next === '<' && script.charAt(i + 2) !== '<') {
      i = readHeredocOperator(i);
      continue;
    } else if (c === '\n' && pending.length > 0) {
      i = readHeredocBodies(i + 1);
      continue;
    }
    i++;
  }
  return out;

  /** At `$(` or `$((`: pushes the frame and returns the offset of its last opening char. */
  function openParen(at: number): number {
    if (script.charAt(at + 2) === '(') {
      stack.push({ kind: 'arithmetic', depth: 0 });
      out[at + 1] = 'arithmetic';
      out[at + 2] = 'arithmetic';
      return at + 2;
    }
    stack.push({ kind: 'command', depth: 0 });
    return at + 1;
  }

  /** At `<<`: records the here-document and returns the offset after its delimiter word. */
  function readHeredocOperator(at: number): number {
    let k = at + 2;
    const stripTabs = script.charAt(k) === '-';
    if (stripTabs) k++;
    while (script.charAt(k) === ' ' || script.charAt(k) === '\t') k++;
    let delimiter = '';
    let literal = false;
    while (k < n && !/[\s;&|<>()]/.test(script.charAt(k))) {
      const ch = script.charAt(k);
      if (ch === "'" || ch === '"') {
        literal = true;
        const end = script.indexOf(ch, k + 1);
        const stop = end < 0 ? n : end;
        delimiter += script.slice(k + 1, stop);
        k = stop + 1;
      } else if (ch === '\\') {
        literal = true;
        delimiter += script.charAt(k + 1);
        k += 2;
      } else {
        delimiter += ch;
        k++;
      }
    }
    mark(at, k, current());
    if (delimiter !== '') pending.push({ delimiter, literal, stripTabs });
    return k;
  }

  /** Reads the bodies of the pending here-documents from `from`; returns where they end. */
  function readHeredocBodies(from: number): number {
    let k = from;
    for (const doc of pending.splice(0)) {
      while (k < n) {
        const end = script.indexOf('\n', k);
        const stop = end < 0 ? n : end;
        const line = script.slice(k, stop);
        if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delimiter) {
          k = stop + 1;
          break;
        }
        mark(k, stop + 1, doc.literal ? 'literal-heredoc' : 'heredoc');
        k = stop + 1;
      }
    }
    return k;
  }
}
