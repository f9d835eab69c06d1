/**
 * The `${{ }}` expression language of `.slipway.yml`.
 *
 * Values: strings ('single' or "double" quoted), numbers, true, false, null.
 * Names: `matrix.<axis>`, `env.<NAME>`, `inputs.<name>`, `build.<field>`.
 * Operators: `==` `!=` `<` `<=` `>` `>=` `&&` `||` `!` and parentheses.
 * Functions: contains, startsWith, endsWith, format, lower, upper; in `if:` also
 * success(), failure(), always(), canceled(); in cache keys also hashFiles().
 *
 * Plain shell `$VAR` and `${VAR}` are not expressions and pass through untouched.
 */

export type Value = string | number | boolean | null;

export type Expr =
  | { kind: 'literal'; value: Value; start: number; end: number }
  | { kind: 'name'; parts: string[]; start: number; end: number }
  | { kind: 'call'; name: string; args: Expr[]; start: number; end: number }
  | { kind: 'not'; expr: Expr; start: number; end: number }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; start: number; end: number };

type BinaryOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

/** A problem in an expression, with offsets relative to the expression text. */
export interface ExpressionProblem {
  kind: 'syntax' | 'unknown-name' | 'not-allowed';
  message: string;
  start: number;
  end: number;
}

/** A piece of a template string: literal text or an embedded `${{ expression }}`. */
export type TemplatePart =
  | { kind: 'text'; text: string }
  | {
      kind: 'expr';
      /** The whole `${{ ... }}` as written. */
      raw: string;
      /** The expression text between the braces. */
      source: string;
      /** Offset of `${{` in the template, and of the expression text. */
      start: number;
      sourceStart: number;
      expr?: Expr;
      problem?: ExpressionProblem;
    };

/** Functions whose value is known only while the build runs. */
export const STATUS_FUNCTIONS = ['success', 'failure', 'always', 'canceled'] as const;
export const RUNTIME_FUNCTIONS = ['hashFiles'] as const;
const PURE_FUNCTIONS: Record<string, { min: number; max: number }> = {
  contains: { min: 2, max: 2 },
  startsWith: { min: 2, max: 2 },
  endsWith: { min: 2, max: 2 },
  format: { min: 1, max: 16 },
  lower: { min: 1, max: 1 },
  upper: { min: 1, max: 1 },
};
const FUNCTION_ARITY: Record<string, { min: number; max: number }> = {
  ...PURE_FUNCTIONS,
  success: { min: 0, max: 0 },
  failure: { min: 0, max: 0 },
  always: { min: 0, max: 0 },
  canceled: { min: 0, max: 0 },
  hashFiles: { min: 1, max: 16 },
};

/** The fields of `build.*` available to expressions. */
export const BUILD_FIELDS = [
  'branch',
  'tag',
  'sha',
  'short_sha',
  'event',
  'number',
  'pr',
  'pr_target_branch',
  'pr_head_branch',
  'pr_head_repo',
  'ref',
  'repo',
] as const;

const MAX_EXPRESSION_LENGTH = 4096;
const MAX_EXPRESSION_DEPTH = 32;

/** Splits a string into text and `${{ }}` parts; never throws. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf('${{', pos);
    if (open < 0) break;
    if (open > pos) parts.push({ kind: 'text', text: text.slice(pos, open) });
    const close = findClose(text, open + 3);
    if (close < 0) {
      parts.push({
        kind: 'expr',
        raw: text.slice(open),
        source: text.slice(open + 3),
        start: open,
        sourceStart: open + 3,
        problem: {
          kind: 'syntax',
          message: 'the expression is not closed; end it with "}}"',
          start: 0,
          end: 3,
        },
      });
      return parts;
    }
    const source = text.slice(open + 3, close);
    const part: TemplatePart = {
      kind: 'expr',
      raw: text.slice(open, close + 2),
      source,
      start: open,
      sourceStart: open + 3,
    };
    const parsed = parseExpression(source);
    if (parsed.ok) part.expr = parsed.expr;
    else part.problem = parsed.problem;
    parts.push(part);
    pos = close + 2;
  }
  if (pos < text.length) parts.push({ kind: 'text', text: text.slice(pos) });
  return parts;
}

/** True when the text holds at least one `${{`. */
export function hasExpression(text: string): boolean {
  return text.includes('${{');
}

/** Finds the `}}` that closes an expression, skipping quoted strings. */
function findClose(text: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '}' && text.charAt(i + 1) === '}') return i;
  }
  return -1;
}

/** Parses one expression (the text between `${{` and `}}`, or a bare `if:` condition). */
export function parseExpression(
  source: string,
): { ok: true; expr: Expr } | { ok: false; problem: ExpressionProblem } {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return {
      ok: false,
      problem: {
        kind: 'syntax',
        message: `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters`,
        start: 0,
        end: 1,
      },
    };
  }
  try {
    const parser = new ExpressionParser(source);
    return { ok: true, expr: parser.parseAll() };
  } catch (error) {
    if (error instanceof ProblemError) return { ok: false, problem: error.problem };
    throw error;
  }
}

class ProblemError extends Error {
  constructor(readonly problem: ExpressionProblem) {
    super(problem.message);
  }
}

type Token =
  | { type: 'string' | 'ident'; value: string; start: number; end: number }
  | { type: 'number'; value: number; start: number; end: number }
  | { type: 'op'; value: string; start: number; end: number }
  | { type: 'eof'; start: number; end: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (message: string, start: number, end = start + 1): never => {
    throw new ProblemError({ kind: 'syntax', message, start, end });
  };
  while (i < source.length) {
    const c = source.charAt(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === "'" || c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= source.length) fail(`the string is not closed; add a closing ${c}`, start);
        const ch = source.charAt(i);
        if (ch === c) {
          // '' inside a single-quoted string is an escaped quote, as in YAML.
          if (source.charAt(i + 1) === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += ch;
        i++;
      }
      tokens.push({ type: 'string', value, start, end: i });
      continue;
    }
    const number = /^-?\d+(\.\d+)?/.exec(source.slice(i));
    if (number && (c !== '-' || /\d/.test(source.charAt(i + 1)))) {
      i += number[0].length;
      tokens.push({ type: 'number', value: Number(number[0]), start, end: i });
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(source.slice(i));
    if (ident) {
      i += ident[0].length;
      tokens.push({ type: 'ident', value: ident[0], start, end: i });
      continue;
    }
    const two = source.slice(i, i + 2);
    if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
      i += 2;
      tokens.push({ type: 'op', value: two, start, end: i });
      continue;
    }
    if ('<>!().,[]'.includes(c)) {
      i++;
      tokens.push({ type: 'op', value: c, start, end: i });
      continue;
    }
    if (c === '=') fail('use "==" to compare; "=" alone is not an operator', start);
    if (c === '&' || c === '|') fail(`use "${c}${c}"; a single "${c}" is not an operator`, start);
    if (c === '$') fail('"$" is shell syntax; inside ${{ }} write names like env.NAME', start);
    fail(`unexpected character "${c}"`, start);
  }
  tokens.push({ type: 'eof', start: source.length, end: source.length });
  return tokens;
}

class ExpressionParser {
  private readonly tokens: Token[];
  private index = 0;
  private depth = 0;

  constructor(private readonly source: string) {
    this.tokens = tokenize(source);
  }

  parseAll(): Expr {
    if (this.peek().type === 'eof')
      this.fail('the expression is empty', 0, this.source.length || 1);
    const expr = this.parseOr();
    const next = this.peek();
    if (next.type !== 'eof') {
      this.fail(
        `unexpected "${this.source.slice(next.start, next.end)}"; expected an operator or the end`,
        next.start,
        next.end,
      );
    }
    return expr;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.takeOp('||')) {
      const right = this.parseAnd();
      left = { kind: 'binary', op: '||', left, right, start: left.start, end: right.end };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseCompare();
    while (this.takeOp('&&')) {
      const right = this.parseCompare();
      left = { kind: 'binary', op: '&&', left, right, start: left.start, end: right.end };
    }
    return left;
  }

  private parseCompare(): Expr {
    const left = this.parseUnary();
    const next = this.peek();
    if (next.type === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(next.value)) {
      this.index++;
      const right = this.parseUnary();
      return {
        kind: 'binary',
        op: next.value as BinaryOp,
        left,
        right,
        start: left.start,
        end: right.end,
      };
    }
    return left;
  }

  private parseUnary(): Expr {
    const next = this.peek();
    if (next.type === 'op' && next.value === '!') {
      this.index++;
      this.enter(next);
      const expr = this.parseUnary();
      this.depth--;
      return { kind: 'not', expr, start: next.start, end: expr.end };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Expr {
    const token = this.next();
    switch (token.type) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: token.value, start: token.start, end: token.end };
      case 'ident': {
        if (token.value === 'true' || token.value === 'false')
          return {
            kind: 'literal',
            value: token.value === 'true',
            start: token.start,
            end: token.end,
          };
        if (token.value === 'null')
          return { kind: 'literal', value: null, start: token.start, end: token.end };
        if (this.takeOp('(')) return this.parseCall(token.value, token.start);
        const parts = [token.value];
        let end = token.end;
        for (;;) {
          if (this.takeOp('.')) {
            const member = this.next();
            if (member.type !== 'ident')
              this.fail('expected a name after "."', member.start, member.end || member.start + 1);
            parts.push(member.value);
            end = member.end;
          } else if (this.takeOp('[')) {
            const key = this.next();
            if (key.type !== 'string')
              this.fail("expected a quoted name inside [ ], like env['MY-VAR']", key.start);
            const close = this.next();
            if (close.type !== 'op' || close.value !== ']') this.fail('expected "]"', close.start);
            parts.push(key.value);
            end = close.end;
          } else break;
        }
        return { kind: 'name', parts, start: token.start, end };
      }
      case 'op':
        if (token.value === '(') {
          this.enter(token);
          const expr = this.parseOr();
          const close = this.next();
          if (close.type !== 'op' || close.value !== ')')
            this.fail('a "(" is not closed; add ")"', token.start, token.end);
          this.depth--;
          return expr;
        }
        return this.fail(
          `unexpected "${token.value}"; expected a value or a name`,
          token.start,
          token.end,
        );
      case 'eof':
        return this.fail('the expression ends where a value was expected', token.start);
    }
  }

  private parseCall(name: string, start: number): Expr {
    const args: Expr[] = [];
    if (!this.takeOp(')')) {
      for (;;) {
        args.push(this.parseOr());
        if (this.takeOp(')')) break;
        if (!this.takeOp(',')) {
          const t = this.peek();
          this.fail('expected "," or ")" in the argument list', t.start);
        }
      }
    }
    const end = this.tokens[this.index - 1]?.end ?? start;
    return { kind: 'call', name, args, start, end };
  }

  private enter(token: Token): void {
    if (++this.depth > MAX_EXPRESSION_DEPTH)
      this.fail(`nested deeper than ${MAX_EXPRESSION_DEPTH} levels`, token.start);
  }

  private peek(): Token {
    return this.tokens[this.index] ?? this.tokens[this.tokens.length - 1]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.type !== 'eof') this.index++;
    return token;
  }

  private takeOp(op: string): boolean {
    const token = this.peek();
    if (token.type === 'op' && token.value === op) {
      this.index++;
      return true;
    }
    return false;
  }

  private fail(message: string, start: number, end = start + 1): never {
    throw new ProblemError({ kind: 'syntax', message, start, end });
  }
}

/** What an expression may refer to at one place in the pipeline. */
export interface ExpressionScope {
  /** Matrix axes of the job, or undefined outside a matrix job. */
  matrix?: ReadonlySet<string>;
  /** Env names declared at this level and above. */
  env: ReadonlySet<string>;
  /** Declared manual inputs. */
  inputs: ReadonlySet<string>;
  /** Whether success()/failure()/always()/canceled() are allowed (only in `if:`). */
  statusFunctions?: boolean;
  /** Whether hashFiles() is allowed (only in cache keys). */
  runtimeFunctions?: boolean;
  /** Whether `env.*` may be used here (not inside env declarations of the same level). */
  envAllowed?: boolean;
}

/** Checks the names and functions an expression uses against a scope. */
export function checkExpression(expr: Expr, scope: ExpressionScope): ExpressionProblem[] {
  const problems: ExpressionProblem[] = [];
  const visit = (node: Expr): void => {
    switch (node.kind) {
      case 'literal':
        return;
      case 'not':
        visit(node.expr);
        return;
      case 'binary':
        visit(node.left);
        visit(node.right);
        return;
      case 'call': {
        const problem = checkCall(node, scope);
        if (problem) problems.push(problem);
        node.args.forEach(visit);
        return;
      }
      case 'name': {
        const problem = checkName(node, scope);
        if (problem) problems.push(problem);
        return;
      }
    }
  };
  visit(expr);
  return problems;
}

function checkCall(
  node: Extract<Expr, { kind: 'call' }>,
  scope: ExpressionScope,
): ExpressionProblem | undefined {
  const at = { start: node.start, end: node.end };
  const arity = FUNCTION_ARITY[node.name];
  if (!arity) {
    const known = Object.keys(FUNCTION_ARITY);
    return {
      kind: 'unknown-name',
      message: `unknown function ${node.name}()${suggest(node.name, known)} (functions: ${known.join(', ')})`,
      ...at,
    };
  }
  if ((STATUS_FUNCTIONS as readonly string[]).includes(node.name) && !scope.statusFunctions) {
    return {
      kind: 'not-allowed',
      message: `${node.name}() is only allowed in a step's \`if:\`; use \`when: { status: ... }\` here`,
      ...at,
    };
  }
  if ((RUNTIME_FUNCTIONS as readonly string[]).includes(node.name) && !scope.runtimeFunctions) {
    return {
      kind: 'not-allowed',
      message: `${node.name}() is only allowed in a cache key`,
      ...at,
    };
  }
  if (node.args.length < arity.min || node.args.length > arity.max) {
    const want = arity.min === arity.max ? `${arity.min}` : `${arity.min} to ${arity.max}`;
    return {
      kind: 'syntax',
      message: `${node.name}() takes ${want} argument${arity.max === 1 ? '' : 's'}, not ${node.args.length}`,
      ...at,
    };
  }
  return undefined;
}

const ROOTS = ['matrix', 'env', 'inputs', 'build'] as const;

function checkName(
  node: Extract<Expr, { kind: 'name' }>,
  scope: ExpressionScope,
): ExpressionProblem | undefined {
  const [root, member, ...rest] = node.parts;
  const at = { start: node.start, end: node.end };
  const unknown = (message: string): ExpressionProblem => ({
    kind: 'unknown-name',
    message,
    ...at,
  });
  if (root === undefined) return unknown('empty name');
  if (root === 'secrets') {
    return unknown(
      `secrets are not read through \${{ }} (that would write them into the plan); list the name ` +
        `under the job's secrets: and read it in the shell as $${member ?? 'NAME'}`,
    );
  }
  if (root === 'github' || root === 'gitlab' || root === 'ci') {
    return unknown(
      `"${node.parts.join('.')}" is another CI's name; Slipway's build facts are build.* ` +
        `(${BUILD_FIELDS.join(', ')})`,
    );
  }
  if (!(ROOTS as readonly string[]).includes(root)) {
    return unknown(
      `unknown name "${node.parts.join('.')}"${suggest(root, [...ROOTS])}; names start with ` +
        `matrix., env., inputs. or build. (for a shell variable write $${root} outside \${{ }})`,
    );
  }
  if (member === undefined) {
    return unknown(`"${root}" is a group of values; name one, like ${exampleFor(root)}`);
  }
  if (rest.length > 0) {
    return unknown(`"${node.parts.join('.')}" goes too deep; ${root}.${member} is a plain value`);
  }
  switch (root) {
    case 'matrix':
      if (!scope.matrix) return unknown(`matrix.${member} is used, but this job has no matrix:`);
      if (!scope.matrix.has(member))
        return unknown(
          `the matrix has no axis "${member}"${suggest(member, [...scope.matrix])} (axes: ${list(scope.matrix)})`,
        );
      return undefined;
    case 'env':
      if (scope.envAllowed === false)
        return {
          kind: 'not-allowed',
          message: `env.${member} cannot be used in the pipeline-level env:; write the value itself`,
          ...at,
        };
      if (!scope.env.has(member))
        return unknown(
          `env.${member} is not declared in an env: of the pipeline, job or step${suggest(member, [...scope.env])}; ` +
            `declare it, or read it in the shell as $${member}`,
        );
      return undefined;
    case 'inputs':
      if (!scope.inputs.has(member))
        return unknown(
          scope.inputs.size === 0
            ? `inputs.${member} is used, but on.manual.inputs declares no inputs`
            : `there is no input "${member}"${suggest(member, [...scope.inputs])} (inputs: ${list(scope.inputs)})`,
        );
      return undefined;
    case 'build':
      if (!(BUILD_FIELDS as readonly string[]).includes(member))
        return unknown(
          `build.${member} is not a build field${suggest(member, [...BUILD_FIELDS])} (fields: ${BUILD_FIELDS.join(', ')})`,
        );
      return undefined;
  }
  return undefined;
}

function exampleFor(root: string): string {
  switch (root) {
    case 'matrix':
      return 'matrix.node';
    case 'env':
      return 'env.NAME';
    case 'inputs':
      return 'inputs.target';
    default:
      return 'build.branch';
  }
}

function list(names: ReadonlySet<string>): string {
  return [...names].join(', ') || '(none)';
}

/** `; did you mean "x"?` when a close candidate exists, else the empty string. */
export function suggest(name: string, candidates: readonly string[]): string {
  const best = closest(name, candidates);
  return best === undefined ? '' : `; did you mean "${best}"?`;
}

/** The candidate closest to `name` by edit distance, if it is close enough to be a typo. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(2, Math.floor(name.length / 3));
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance <= limit) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      // A swap of two neighbours (stpes -> steps) counts as one edit.
      if (
        i > 1 &&
        j > 1 &&
        a.charAt(i - 1) === b.charAt(j - 2) &&
        a.charAt(i - 2) === b.charAt(j - 1)
      )
        current[j] = Math.min(current[j]!, (previous[j - 2] ?? Infinity) + 1);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Values that names resolve to while evaluating. */
export interface ExpressionValues {
  matrix: Readonly<Record<string, Value>>;
  env: Readonly<Record<string, string>>;
  inputs: Readonly<Record<string, Value>>;
  build: Readonly<Record<string, Value>>;
  /** Present only where status functions are evaluated (at run time). */
  status?: { success: boolean; failure: boolean; canceled: boolean };
  /** Present only where hashFiles() is evaluated (at run time). */
  hashFiles?: (patterns: string[]) => string;
}

/** Thrown when an expression needs values that only exist at run time. */
export class DeferredExpression extends Error {}

/** Evaluates a checked expression. Throws DeferredExpression for run-time-only functions. */
export function evaluate(expr: Expr, values: ExpressionValues): Value {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'name': {
      const [root, member = ''] = expr.parts;
      const group =
        root === 'matrix'
          ? values.matrix
          : root === 'env'
            ? values.env
            : root === 'inputs'
              ? values.inputs
              : values.build;
      return Object.hasOwn(group, member) ? (group[member] ?? null) : null;
    }
    case 'not':
      return !truthy(evaluate(expr.expr, values));
    case 'binary': {
      if (expr.op === '&&') {
        const left = evaluate(expr.left, values);
        return truthy(left) ? evaluate(expr.right, values) : left;
      }
      if (expr.op === '||') {
        const left = evaluate(expr.left, values);
        return truthy(left) ? left : evaluate(expr.right, values);
      }
      return compare(expr.op, evaluate(expr.left, values), evaluate(expr.right, values));
    }
    case 'call':
      return call(expr, values);
  }
}

function call(expr: Extract<Expr, { kind: 'call' }>, values: ExpressionValues): Value {
  const status = values.status;
  switch (expr.name) {
    case 'success':
      if (!status) throw new DeferredExpression();
      return status.success && !status.canceled;
    case 'failure':
      if (!status) throw new DeferredExpression();
      return status.failure && !status.canceled;
    case 'canceled':
      if (!status) throw new DeferredExpression();
      return status.canceled;
    case 'always':
      if (!status) throw new DeferredExpression();
      return true;
    case 'hashFiles': {
      if (!values.hashFiles) throw new DeferredExpression();
      return values.hashFiles(expr.args.map((a) => toText(evaluate(a, values))));
    }
    default:
      break;
  }
  const args = expr.args.map((a) => evaluate(a, values));
  const text = args.map(toText);
  switch (expr.name) {
    case 'contains':
      return text[0]!.toLowerCase().includes(text[1]!.toLowerCase());
    case 'startsWith':
      return text[0]!.startsWith(text[1]!);
    case 'endsWith':
      return text[0]!.endsWith(text[1]!);
    case 'lower':
      return text[0]!.toLowerCase();
    case 'upper':
      return text[0]!.toUpperCase();
    case 'format':
      return text[0]!.replace(/\{(\d+)\}/g, (whole, n: string) => text[Number(n) + 1] ?? whole);
    default:
      return null;
  }
}

function compare(op: BinaryOp, left: Value, right: Value): boolean {
  const bothNumeric =
    isNumeric(left) && isNumeric(right) && (typeof left === 'number' || typeof right === 'number');
  if (op === '==' || op === '!=') {
    const equal = bothNumeric ? Number(left) === Number(right) : toText(left) === toText(right);
    return op === '==' ? equal : !equal;
  }
  const a = bothNumeric ? Number(left) : toText(left);
  const b = bothNumeric ? Number(right) : toText(right);
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

function isNumeric(value: Value): boolean {
  if (typeof value === 'number') return true;
  return typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value);
}

/** How a value reads when written into a string. */
export function toText(value: Value): string {
  if (value === null) return '';
  return String(value);
}

/** Whether a value counts as true in a condition. */
export function truthy(value: Value): boolean {
  return value !== null && value !== false && value !== '' && value !== 0;
}

/** True when the expression calls a function that can only be evaluated at run time. */
export function isDeferred(expr: Expr): boolean {
  switch (expr.kind) {
    case 'literal':
    case 'name':
      return false;
    case 'not':
      return isDeferred(expr.expr);
    case 'binary':
      return isDeferred(expr.left) || isDeferred(expr.right);
    case 'call':
      return (
        (STATUS_FUNCTIONS as readonly string[]).includes(expr.name) ||
        (RUNTIME_FUNCTIONS as readonly string[]).includes(expr.name) ||
        expr.args.some(isDeferred)
      );
  }
}

/** True when the expression calls one of the status functions. */
export function usesStatus(expr: Expr): boolean {
  switch (expr.kind) {
    case 'literal':
    case 'name':
      return false;
    case 'not':
      return usesStatus(expr.expr);
    case 'binary':
      return usesStatus(expr.left) || usesStatus(expr.right);
    case 'call':
      return (
        (STATUS_FUNCTIONS as readonly string[]).includes(expr.name) || expr.args.some(usesStatus)
      );
  }
}

/**
 * Renders a template: each `${{ }}` becomes its value as text. Expressions that
 * need run-time values stay as written, for the runtime to render with the same code.
 * The parts must have been checked (no problems) before rendering.
 */
export function renderTemplate(parts: readonly TemplatePart[], values: ExpressionValues): string {
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else if (!part.expr) out += part.raw;
    else {
      try {
        out += toText(evaluate(part.expr, values));
      } catch (error) {
        if (!(error instanceof DeferredExpression)) throw error;
        out += part.raw;
      }
    }
  }
  return out;
}
