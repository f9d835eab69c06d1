/**
 * Label expressions: how a job says which agents may run it, e.g. `linux && !arm64`
 * or `(docker || podman) && x86_64`. Words are label names; `&&`, `||`, `!` and
 * parentheses combine them.
 */

export type LabelExpr =
  | { op: 'label'; name: string }
  | { op: 'not'; expr: LabelExpr }
  | { op: 'and' | 'or'; left: LabelExpr; right: LabelExpr }
  | { op: 'true' };

/** A parse failure with the 0-based column inside the expression text. */
export interface LabelSyntaxError {
  message: string;
  column: number;
}

const LABEL_WORD = /[A-Za-z0-9_.:/=-]+/y;

/** Parses a label expression; an empty string means "any agent". */
export function parseLabelExpression(
  text: string,
): { ok: true; expr: LabelExpr } | { ok: false; error: LabelSyntaxError } {
  const parser = new LabelParser(text);
  try {
    return { ok: true, expr: parser.parse() };
  } catch (error) {
    if (error instanceof LabelParseError) return { ok: false, error: error.detail };
    throw error;
  }
}

/** True when an agent offering `labels` satisfies the expression. */
export function matchLabels(expr: LabelExpr, labels: ReadonlySet<string>): boolean {
  switch (expr.op) {
    case 'true':
      return true;
    case 'label':
      return labels.has(expr.name);
    case 'not':
      return !matchLabels(expr.expr, labels);
    case 'and':
      return matchLabels(expr.left, labels) && matchLabels(expr.right, labels);
    case 'or':
      return matchLabels(expr.left, labels) || matchLabels(expr.right, labels);
  }
}

/** Prints an expression in canonical form, with parentheses only where needed. */
export function formatLabelExpression(expr: LabelExpr): string {
  const wrap = (inner: LabelExpr, parent: 'and' | 'or'): string =>
    inner.op === 'or' && parent === 'and'
      ? `(${formatLabelExpression(inner)})`
      : formatLabelExpression(inner);
  switch (expr.op) {
    case 'true':
      return '';
    case 'label':
      return expr.name;
    case 'not':
      return expr.expr.op === 'label' || expr.expr.op === 'not'
        ? `!${formatLabelExpression(expr.expr)}`
        : `!(${formatLabelExpression(expr.expr)})`;
    case 'and':
    case 'or':
      return `${wrap(expr.left, expr.op)} ${expr.op === 'and' ? '&&' : '||'} ${wrap(expr.right, expr.op)}`;
  }
}

class LabelParseError extends Error {
  constructor(readonly detail: LabelSyntaxError) {
    super(detail.message);
  }
}

const MAX_LABEL_DEPTH = 32;

class LabelParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): LabelExpr {
    this.skipSpace();
    if (this.pos >= this.text.length) return { op: 'true' };
    const expr = this.parseOr();
    this.skipSpace();
    if (this.pos < this.text.length) {
      const rest = this.text.slice(this.pos);
      if (rest.startsWith(')')) this.fail('a ")" has no matching "("');
      if (/^[&|](?![&|])/.test(rest))
        this.fail(`use "${rest.charAt(0).repeat(2)}", not a single "${rest.charAt(0)}"`);
      if (/^[A-Za-z0-9_]/.test(rest))
        this.fail(`expected "&&" or "||" before "${labelWordAt(rest)}"`);
      this.fail(`unexpected "${rest.charAt(0)}"`);
    }
    return expr;
  }

  private parseOr(): LabelExpr {
    let left = this.parseAnd();
    while (this.take('||')) left = { op: 'or', left, right: this.parseAnd() };
    return left;
  }

  private parseAnd(): LabelExpr {
    let left = this.parseNot();
    while (this.take('&&')) left = { op: 'and', left, right: this.parseNot() };
    return left;
  }

  private parseNot(): LabelExpr {
    if (this.take('!')) {
      this.enter();
      const expr: LabelExpr = { op: 'not', expr: this.parseNot() };
      this.depth--;
      return expr;
    }
    return this.parseAtom();
  }

  private parseAtom(): LabelExpr {
    this.skipSpace();
    if (this.take('(')) {
      this.enter();
      const expr = this.parseOr();
      if (!this.take(')')) this.fail('a "(" is not closed; add ")"');
      this.depth--;
      return expr;
    }
    LABEL_WORD.lastIndex = this.pos;
    const match = LABEL_WORD.exec(this.text);
    if (!match) {
      if (this.pos >= this.text.length) this.fail('the expression ends where a label was expected');
      const c = this.text.charAt(this.pos);
      const op = this.text.slice(this.pos, this.pos + 2);
      if (op === '&&' || op === '||') this.fail(`expected a label before "${op}"`);
      if (c === '&' || c === '|') this.fail(`use "${c}${c}", not a single "${c}"`);
      this.fail(`expected a label, found "${c}"`);
    }
    this.pos = LABEL_WORD.lastIndex;
    return { op: 'label', name: match[0] };
  }

  private enter(): void {
    if (++this.depth > MAX_LABEL_DEPTH) this.fail(`nested deeper than ${MAX_LABEL_DEPTH} levels`);
  }

  private take(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text.charAt(this.pos))) this.pos++;
  }

  private fail(message: string): never {
    throw new LabelParseError({ message, column: this.pos });
  }
}

function labelWordAt(text: string): string {
  return /^[A-Za-z0-9_.:/=-]+/.exec(text)?.[0] ?? text.charAt(0);
}
