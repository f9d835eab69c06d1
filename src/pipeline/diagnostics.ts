/**
 * Diagnostics: problems found in a configuration file, collected (never thrown) and
 * shown to the user with where they are and how to fix them.
 *
 * Every code here is documented in docs/errors.md; a test keeps the two in step.
 */

/** How bad a diagnostic is. Warnings never block a build. */
export type Severity = 'error' | 'warning';

/**
 * The stable diagnostic codes, each with a one-line summary used by docs/errors.md.
 * Codes are part of Slipway's interface: tools match on them, so never rename one.
 */
export const DIAGNOSTIC_CODES = {
  'file-too-large': 'The file is over the size limit and was not parsed.',
  'empty-file': 'The file is empty or holds only comments.',
  'not-a-mapping': 'The top level of the file is not a mapping of keys to values.',
  'yaml-syntax': 'The text is not valid YAML.',
  'yaml-tab': 'A tab is used for indentation; YAML allows only spaces.',
  'duplicate-key': 'The same key appears twice in one mapping.',
  'too-deep': 'The document nests deeper than the limit (refused before parsing).',
  'alias-limit': 'Aliases expand to more nodes than the limit (a "billion laughs" document).',
  'multiple-documents': 'The file holds more than one YAML document.',
  'unknown-key': 'A key that the format does not define (often a typo).',
  'invalid-type': 'A value of the wrong type, such as a list where a string is expected.',
  'invalid-value':
    'A value of the right type that is out of range or not one of the allowed values.',
  'missing-key': 'A required key is missing.',
  'missing-image': 'A job has no image and `defaults.image` is not set.',
  'invalid-name':
    'A job, service, container, input or axis name uses characters that are not allowed.',
  'unknown-need': '`needs` names a job that does not exist.',
  'needs-cycle': 'Jobs need each other in a cycle, so none of them could ever start.',
  'self-need': 'A job lists itself in `needs`.',
  'duplicate-job': 'Two jobs have the same name after matrix expansion.',
  'empty-matrix': 'A matrix expands to no variants (every combination was excluded).',
  'matrix-too-large': 'A matrix expands to more variants than the limit.',
  'invalid-duration': 'A duration that cannot be read, such as `10` without a unit.',
  'invalid-size': 'A size that cannot be read, such as `512` without a unit.',
  'invalid-cron': 'A cron expression or time zone that cannot be read.',
  'invalid-label-expression': 'A `labels:` expression that cannot be parsed.',
  'invalid-pattern': 'A branch or tag glob pattern that cannot be used.',
  'expression-syntax': 'A `${{ }}` expression that cannot be parsed.',
  'unknown-expression-name': 'A `${{ }}` expression uses a name that is not defined.',
  'expression-not-allowed':
    'A `${{ }}` expression, or one of its functions, is used where it cannot be.',
  'unknown-container': 'A step runs in a `container:` that the job does not define.',
  'step-conflict':
    'A step sets keys that cannot be used together, or neither `run` nor `checkout`.',
  'invalid-input': 'A manual input declaration is invalid, or a value given for an input is wrong.',
  'number-precision': 'A plain YAML number loses digits (e.g. `3.10` reads as 3.1); quote it.',
  'unused-container': 'A job defines a container that no step uses.',
  'untrusted-expression':
    'A `${{ }}` in a script reads a value from outside the pipeline; it is passed through the environment instead.',
  'untrusted-expression-unsafe':
    'A `${{ }}` in a script reads a value from outside the pipeline where it cannot be passed safely.',
  'credential-out-of-scope':
    'A job names a credential that this build may not use (its job or branch is outside the scope).',
  'credential-missing':
    'A job names a secret that the server configuration maps to a credential that does not exist.',
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/** A position in a file: 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** One problem found in a file. */
export interface Diagnostic {
  severity: Severity;
  code: DiagnosticCode;
  /** What is wrong and how to fix it, in one or two sentences. */
  message: string;
  /** The file as the user named it. */
  file: string;
  /** Start of the offending text (1-based). */
  line: number;
  column: number;
  /** End of the offending text (1-based, exclusive column). */
  endLine: number;
  endColumn: number;
  /** Where in the document, like `jobs.test.steps[2].image`; empty for the whole file. */
  path: string;
}

/** True when any diagnostic is an error (warnings do not count). */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Sorts diagnostics by position, then code, so output is stable. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort(
    (a, b) =>
      a.line - b.line ||
      a.column - b.column ||
      a.code.localeCompare(b.code) ||
      a.message.localeCompare(b.message),
  );
}
