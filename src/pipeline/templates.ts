import type { Diagnostic } from './diagnostics.ts';
import {
  checkExpression,
  parseTemplate,
  type ExpressionProblem,
  type ExpressionScope,
  type TemplatePart,
} from './expressions.ts';
import { formatPath, type Path } from './path.ts';
import type { Range, SourceFile } from './source.ts';
import { isPosixShell, suggestedName, untrustedUses, type Trust } from './untrusted.ts';
import type { LoadedDocument } from './yaml-loader.ts';

/** Checks the expressions of one string value and reports problems at their exact place. */
export class TemplateChecker {
  constructor(
    private readonly source: SourceFile,
    private readonly doc: LoadedDocument,
    private readonly diagnostics: Diagnostic[],
  ) {}

  /** Checks a template string; returns false when it has problems. */
  check(text: string, path: Path, scope: ExpressionScope): boolean {
    if (!text.includes('${{')) return true;
    let ok = true;
    for (const part of parseTemplate(text)) {
      if (part.kind !== 'expr') continue;
      const problems = part.problem
        ? [part.problem]
        : part.expr
          ? checkExpression(part.expr, scope)
          : [];
      for (const problem of problems) {
        ok = false;
        this.report(problem, part, path);
      }
    }
    return ok;
  }

  /** Reports `${{ }}` used where expressions are not evaluated. */
  forbid(text: string, path: Path, what: string): boolean {
    if (!text.includes('${{')) return true;
    const part = parseTemplate(text).find((p) => p.kind === 'expr');
    if (part?.kind !== 'expr') return true;
    this.diagnostics.push(
      this.source.diagnostic(
        'expression-not-allowed',
        `${formatPath(path)}: \${{ }} expressions are not evaluated in ${what}; write the value itself`,
        this.rangeOf(part, path, {
          kind: 'not-allowed',
          message: '',
          start: -3,
          end: part.source.length + 2,
        }),
        path,
      ),
    );
    return false;
  }

  /**
   * Reports the untrusted expressions of a script (untrusted.ts): a warning where the
   * compiler passes the value through the environment, an error where it cannot.
   */
  checkScript(text: string, path: Path, trust: Trust, shell: readonly string[]): void {
    if (!text.includes('${{')) return;
    const parts = parseTemplate(text);
    for (const use of untrustedUses(parts, trust, isPosixShell(shell))) {
      const { part } = use;
      const occurrence = parts.filter(
        (p) => p.kind === 'expr' && p.raw === part.raw && p.start < part.start,
      ).length;
      const name = suggestedName(part.expr!);
      const what = `${formatPath(path)}: ${part.raw} comes from outside the pipeline (a branch or tag name, a pull request title, a commit message or a string input can hold shell code)`;
      const isEnv = part.expr!.kind === 'name' && part.expr!.parts[0] === 'env';
      const advice = isEnv
        ? `read "$${name}" instead: the step's environment already holds it`
        : `set it under the step's env: (${name}: ${part.raw}) and read "$${name}" instead`;
      const message = use.unsafe
        ? `${what}, and ${use.unsafe}; ${advice}`
        : `${what}, so it is passed to the script in the environment variable ${use.variable} rather than pasted into it; to say so yourself, ${advice}`;
      this.diagnostics.push(
        this.source.diagnostic(
          use.unsafe ? 'untrusted-expression-unsafe' : 'untrusted-expression',
          message,
          this.rangeOf(
            part,
            path,
            {
              kind: 'not-allowed',
              message: '',
              start: -3,
              end: part.source.length + 2,
            },
            occurrence,
          ),
          path,
          use.unsafe ? 'error' : 'warning',
        ),
      );
    }
  }

  /** Reports a problem in a bare expression (an `if:` without `${{ }}`). */
  reportBare(problem: ExpressionProblem, expressionText: string, path: Path): void {
    const part: TemplatePart = {
      kind: 'expr',
      raw: expressionText,
      source: expressionText,
      start: 0,
      sourceStart: 0,
    };
    this.report(problem, part, path);
  }

  private report(
    problem: ExpressionProblem,
    part: TemplatePart & { kind: 'expr' },
    path: Path,
  ): void {
    const code =
      problem.kind === 'syntax'
        ? 'expression-syntax'
        : problem.kind === 'unknown-name'
          ? 'unknown-expression-name'
          : 'expression-not-allowed';
    this.diagnostics.push(
      this.source.diagnostic(
        code,
        `${formatPath(path)}: ${problem.message}`,
        this.rangeOf(part, path, problem),
        path,
      ),
    );
  }

  /**
   * Finds the expression in the source text of the value so the caret points at it.
   * Falls back to the whole value when the scalar's text differs from its value
   * (escapes, folded lines).
   */
  private rangeOf(
    part: TemplatePart & { kind: 'expr' },
    path: Path,
    problem: ExpressionProblem,
    occurrence = 0,
  ): Range | undefined {
    const location = this.doc.locate(path);
    if (!location) return undefined;
    const [start, end] = location.value;
    const raw = this.source.text.slice(start, end);
    // The same expression written twice: point at the one meant.
    let at = raw.indexOf(part.raw);
    for (let k = 0; k < occurrence && at >= 0; k++) at = raw.indexOf(part.raw, at + 1);
    if (at < 0) return location.value;
    const base = start + at + (part.sourceStart - part.start);
    return [
      base + Math.max(problem.start, -3),
      base + Math.min(problem.end, part.source.length + 2),
    ];
  }
}
