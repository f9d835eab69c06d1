/**
 * Untrusted values in scripts. A `${{ }}` in `run:` is rendered into the script text, so a
 * value chosen by someone other than the pipeline's author (a branch name, a tag, a pull
 * request title, a commit message, a string input) would be read by the shell as code:
 * a branch named `x";touch pwned;"` runs `touch pwned`. The compiler therefore renders an
 * untrusted expression in a script as a reference to a generated environment variable
 * that holds the value, written for the quoting context it sits in, so the value arrives
 * verbatim and is never parsed by the shell.
 *
 * Trusted: literals, matrix values, numbers, booleans, choice inputs (one of the author's
 * options), the commit sha, the build number, the event, and comparisons (booleans).
 * Everything else, including every `build.*` field not known to be safe, is untrusted.
 */
import {
  evaluate,
  parseTemplate,
  renderTemplate,
  toText,
  type Expr,
  type ExpressionValues,
  type TemplatePart,
} from './expressions.ts';
import { quoteContexts, type QuoteContext } from './shell-context.ts';

/** `build.*` fields whose values cannot hold shell syntax (hex, numbers, a fixed word). */
const SAFE_BUILD_FIELDS: ReadonlySet<string> = new Set([
  'sha',
  'short_sha',
  'number',
  'pr',
  'event',
]);

/** Which names in scope hold untrusted values. */
export interface Trust {
  /** Env names whose (innermost) declaration renders an untrusted value. */
  env: ReadonlySet<string>;
  /** Inputs of type string: typed by whoever starts the build. */
  inputs: ReadonlySet<string>;
}

/** True when the expression's value may come from outside the pipeline file. */
export function isUntrusted(expr: Expr, trust: Trust): boolean {
  switch (expr.kind) {
    case 'literal':
    case 'not':
      return false;
    case 'binary':
      // Comparisons give booleans; && and || give one of their operands.
      return expr.op === '&&' || expr.op === '||'
        ? isUntrusted(expr.left, trust) || isUntrusted(expr.right, trust)
        : false;
    case 'call':
      return expr.name === 'lower' || expr.name === 'upper' || expr.name === 'format'
        ? expr.args.some((a) => isUntrusted(a, trust))
        : false;
    case 'name': {
      const [root, member = ''] = expr.parts;
      switch (root) {
        case 'matrix':
          return false;
        case 'env':
          return trust.env.has(member);
        case 'inputs':
          return trust.inputs.has(member);
        default:
          return !SAFE_BUILD_FIELDS.has(member);
      }
    }
  }
}

/** True when any expression of the template is untrusted. */
export function templateUntrusted(text: string, trust: Trust): boolean {
  if (!text.includes('${{')) return false;
  return parseTemplate(text).some(
    (p) => p.kind === 'expr' && !!p.expr && isUntrusted(p.expr, trust),
  );
}

/** The trust of the env names after one more `env:` level over `outer`. */
export function layerTrust(
  outer: Trust,
  env: Readonly<Record<string, string | number | boolean>> | undefined,
): Trust {
  const untrusted = new Set(outer.env);
  for (const [name, value] of Object.entries(env ?? {})) {
    if (typeof value === 'string' && templateUntrusted(value, outer)) untrusted.add(name);
    else untrusted.delete(name);
  }
  return { env: untrusted, inputs: outer.inputs };
}

/** True for a shell whose quoting rules we know: the script can be rewritten safely. */
export function isPosixShell(shell: readonly string[]): boolean {
  const program = (shell[0] ?? '').split('/').pop() ?? '';
  return ['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh'].includes(program);
}

/** One untrusted expression of a script, and what can be done with it. */
export interface UntrustedUse {
  part: TemplatePart & { kind: 'expr' };
  context: QuoteContext;
  /** The generated variable that carries the value. */
  variable: string;
  /** Why it cannot be passed safely, or null when the rewrite is safe. */
  unsafe: string | null;
}

/**
 * Finds the untrusted expressions of a script and the variable each becomes. `render`
 * gives the text of trusted expressions (their values, when known), so the quoting
 * context is judged on the script the shell will see.
 */
export function untrustedUses(
  parts: readonly TemplatePart[],
  trust: Trust,
  posix: boolean,
  render: (part: TemplatePart & { kind: 'expr' }) => string = () => 'x',
): UntrustedUse[] {
  let text = '';
  const found: { part: TemplatePart & { kind: 'expr' }; at: number }[] = [];
  for (const part of parts) {
    if (part.kind === 'text') text += part.text;
    else if (part.expr && isUntrusted(part.expr, trust)) {
      found.push({ part, at: text.length });
      text += 'x';
    } else text += render(part);
  }
  if (found.length === 0) return [];
  const contexts = quoteContexts(text);
  const names = new Map<string, string>();
  const taken = new Set<string>();
  return found.map(({ part, at }) => {
    let variable = names.get(part.source.trim());
    if (variable === undefined) {
      variable = variableFor(part.expr!, names.size + 1, taken);
      names.set(part.source.trim(), variable);
      taken.add(variable);
    }
    const context = contexts[at] ?? 'bare';
    return { part, context, variable, unsafe: unsafeReason(context, posix) };
  });
}

function unsafeReason(context: QuoteContext, posix: boolean): string | null {
  if (!posix)
    return "the step's shell is not a POSIX shell, so Slipway cannot write a safe reference to it";
  if (context === 'arithmetic')
    return "inside $(( )) bash evaluates a variable's text as arithmetic, which can run commands";
  if (context === 'literal-heredoc')
    return "inside a here-document with a quoted delimiter (<<'EOF') nothing is expanded, so the value cannot be passed in";
  return null;
}

/** `build.branch` → `SLIPWAY_EXPR_BUILD_BRANCH`; other expressions are numbered. */
function variableFor(expr: Expr, serial: number, taken: ReadonlySet<string>): string {
  const base =
    expr.kind === 'name'
      ? `SLIPWAY_EXPR_${expr.parts
          .join('_')
          .toUpperCase()
          .replace(/[^A-Z0-9_]/g, '_')}`
      : `SLIPWAY_EXPR_${serial}`;
  let name = base;
  for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
  return name;
}

/** The text that replaces an untrusted expression in its context (unsafe ones excluded). */
export function referenceFor(variable: string, context: QuoteContext): string {
  switch (context) {
    case 'bare':
      return `"\${${variable}}"`;
    case 'single':
      return `'"\${${variable}}"'`;
    case 'ansi':
      return `'"\${${variable}}"$'`;
    case 'double':
    case 'heredoc':
    case 'comment':
    case 'arithmetic':
    case 'literal-heredoc':
      return `\${${variable}}`;
  }
}

/** A script rendered for the shell: untrusted values moved into variables. */
export interface RenderedScript {
  script: string;
  /**
   * For display (a default step name): trusted values pasted in, untrusted expressions
   * as written, so no outside text reaches a name.
   */
  display: string;
  /** The generated variables and their values. */
  env: Record<string, string>;
  /** Uses that could not be made safe (the caller reports them; the script omits them). */
  unsafe: UntrustedUse[];
}

/** Renders a checked script template with untrusted values passed by reference. */
export function renderScript(
  text: string,
  values: ExpressionValues,
  trust: Trust,
  shell: readonly string[],
): RenderedScript {
  const parts = parseTemplate(text);
  const uses = untrustedUses(parts, trust, isPosixShell(shell), (part) =>
    renderTemplate([part], values),
  );
  if (uses.length === 0) {
    const script = renderTemplate(parts, values);
    return { script, display: script, env: {}, unsafe: [] };
  }
  const byPart = new Map<TemplatePart, UntrustedUse>(uses.map((u) => [u.part, u]));
  let script = '';
  let display = '';
  const env: Record<string, string> = {};
  for (const part of parts) {
    const use = byPart.get(part);
    if (!use) {
      const text = renderTemplate([part], values);
      script += text;
      display += text;
      continue;
    }
    display += use.part.raw;
    // Never pasted: an unsafe use is left out, and the caller reports it as an error.
    if (use.unsafe) continue;
    env[use.variable] = toText(evaluate(use.part.expr!, values));
    script += referenceFor(use.variable, use.context);
  }
  return { script, display, env, unsafe: uses.filter((u) => u.unsafe !== null) };
}

/** A readable variable name to suggest for an expression: `build.branch` → `BRANCH`. */
export function suggestedName(expr: Expr): string {
  if (expr.kind !== 'name') return 'VALUE';
  const last = expr.parts[expr.parts.length - 1] ?? 'value';
  return last
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .replace(/^(\d)/, '_$1');
}
