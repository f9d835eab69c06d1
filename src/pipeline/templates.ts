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
  ): Range | undefined {
    const location = this.doc.locate(path);
    if (!location) return undefined;
    const [start, end] = location.value;
    const raw = this.source.text.slice(start, end);
    const at = raw.indexOf(part.raw);
    if (at < 0) return location.value;
    const base = start + at + (part.sourceStart - part.start);
    return [
      base + Math.max(problem.start, -3),
      base + Math.min(problem.end, part.source.length + 2),
    ];
  }
}
