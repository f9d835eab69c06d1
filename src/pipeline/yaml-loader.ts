import {
  CST,
  Lexer,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Node,
  type YAMLError,
} from 'yaml';
import type { Diagnostic } from './diagnostics.ts';
import { pathKey, type Path } from './path.ts';
import type { Range, SourceFile } from './source.ts';

/** Limits that keep hostile input from hanging or exhausting the process. */
export interface YamlLimits {
  /** Largest accepted file, in bytes. Larger files are refused without parsing. */
  maxBytes: number;
  /** Deepest accepted nesting of mappings and lists. */
  maxDepth: number;
  /** Most nodes a document may expand to, counting every alias expansion. */
  maxNodes: number;
}

const MAX_SYNTAX_ERRORS = 1;

export const DEFAULT_YAML_LIMITS: YamlLimits = {
  maxBytes: 1024 * 1024,
  maxDepth: 64,
  maxNodes: 100_000,
};

/** Where one value of the document came from. */
export interface NodeLocation {
  /** The key of this entry in its mapping, when it has one. */
  key?: Range;
  /** The value itself. */
  value: Range;
  /** The source text of a plain number, to catch `3.10` read as 3.1. */
  numberSource?: string;
}

/** A parsed document as plain data, plus where each value came from. */
export interface LoadedDocument {
  value: unknown;
  locate(path: Path): NodeLocation | undefined;
}

/**
 * Parses YAML text into plain data while recording the source range of every value,
 * so that any later check can point at `file:line:col`. Supports anchors, aliases and
 * `<<` merge keys; refuses oversized, too-deep and alias-bomb input without hanging.
 */
export function loadYaml(
  source: SourceFile,
  diagnostics: Diagnostic[],
  limits: YamlLimits = DEFAULT_YAML_LIMITS,
): LoadedDocument | undefined {
  const { text } = source;
  const bytes = utf8Length(text, limits.maxBytes);
  if (bytes > limits.maxBytes) {
    diagnostics.push(
      source.diagnostic(
        'file-too-large',
        `the file is ${bytes} bytes, over the limit of ${limits.maxBytes} bytes; it was not parsed. ` +
          'Split the pipeline or move large scripts into files in the repository.',
        [0, 0],
      ),
    );
    return undefined;
  }
  if (text.trim() === '' || onlyComments(text)) {
    diagnostics.push(
      source.diagnostic(
        'empty-file',
        'the file is empty; define at least `jobs:` with one job (see docs/pipeline.md).',
        [0, 0],
      ),
    );
    return undefined;
  }
  const deep = findExcessiveNesting(text, limits.maxDepth);
  if (deep !== undefined) {
    diagnostics.push(
      source.diagnostic(
        'too-deep',
        `the document nests deeper than ${limits.maxDepth} levels; it was refused before parsing. ` +
          'Flatten the structure.',
        [deep, deep + 1],
      ),
    );
    return undefined;
  }

  const doc = parseDocument(text, {
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
    strict: true,
  });
  const before = diagnostics.length;
  // A syntax error makes the parser stumble over everything after it: report the first
  // error of each line, and at most a few, because the rest is noise.
  const seenLines = new Set<number>();
  let syntaxErrors = 0;
  for (const error of doc.errors) {
    const diagnostic = yamlErrorDiagnostic(source, error, 'error');
    if (diagnostic.code === 'yaml-syntax') {
      if (seenLines.has(diagnostic.line) || syntaxErrors >= MAX_SYNTAX_ERRORS) continue;
      syntaxErrors++;
    }
    seenLines.add(diagnostic.line);
    diagnostics.push(diagnostic);
  }
  for (const warning of doc.warnings)
    diagnostics.push(yamlErrorDiagnostic(source, warning, 'warning'));
  if (diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined;

  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    diagnostics.push(
      source.diagnostic(
        'empty-file',
        'the file holds no data; define at least `jobs:` with one job (see docs/pipeline.md).',
        [0, 0],
      ),
    );
    return undefined;
  }
  const converter = new Converter(doc, limits);
  let value: unknown;
  try {
    value = converter.convert(root, []);
  } catch (error) {
    if (!(error instanceof LoadLimitError)) throw error;
    diagnostics.push(
      source.diagnostic(
        error.code,
        error.code === 'too-deep'
          ? `the document nests deeper than ${limits.maxDepth} levels (counting aliases). Flatten the structure.`
          : `anchors and aliases expand to more than ${limits.maxNodes} values; this looks like a ` +
              '"billion laughs" document and was refused. Use fewer nested aliases.',
        error.range,
      ),
    );
    return undefined;
  }
  if (!isMap(root)) {
    diagnostics.push(
      source.diagnostic(
        'not-a-mapping',
        `the top level is ${describe(value)}, but a pipeline is a mapping that starts with \`jobs:\` ` +
          '(see docs/pipeline.md for an example).',
        rangeOf(root),
      ),
    );
    return undefined;
  }
  return {
    value,
    locate: (path) => converter.locations.get(pathKey(path)),
  };
}

class LoadLimitError extends Error {
  constructor(
    readonly code: 'too-deep' | 'alias-limit',
    readonly range: Range,
  ) {
    super(code);
  }
}

/** Turns the YAML tree into plain data and records a location for every path. */
class Converter {
  readonly locations = new Map<string, NodeLocation>();
  private nodes = 0;

  constructor(
    private readonly doc: Document,
    private readonly limits: YamlLimits,
  ) {}

  convert(node: unknown, path: Path, key?: Range, depth = 0, aliasRange?: Range): unknown {
    if (++this.nodes > this.limits.maxNodes)
      throw new LoadLimitError('alias-limit', aliasRange ?? rangeOf(node));
    if (depth > this.limits.maxDepth)
      throw new LoadLimitError('too-deep', aliasRange ?? rangeOf(node));
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      return this.convert(target, path, key, depth + 1, aliasRange ?? rangeOf(node));
    }
    const location: NodeLocation = { value: aliasRange ?? rangeOf(node) };
    if (key) location.key = key;
    if (isScalar(node) && typeof node.value === 'number' && typeof node.source === 'string')
      location.numberSource = node.source;
    this.locations.set(pathKey(path), location);

    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const own = new Set<string>();
      const merges: unknown[] = [];
      for (const pair of node.items) {
        if (isMergeKey(pair.key)) {
          merges.push(pair.value);
          continue;
        }
        const name = keyName(pair.key);
        own.add(name);
        out[name] = this.convert(pair.value, [...path, name], rangeOf(pair.key), depth + 1);
      }
      // `<<: *base` or `<<: [*a, *b]`: own keys win, earlier merged maps beat later ones.
      for (const merge of merges) {
        const sources = isSeq(merge) ? merge.items : [merge];
        for (const item of sources) {
          const target = isAlias(item) ? item.resolve(this.doc) : item;
          if (!isMap(target)) continue;
          for (const pair of target.items) {
            const name = keyName(pair.key);
            if (own.has(name) || name in out) continue;
            out[name] = this.convert(pair.value, [...path, name], rangeOf(pair.key), depth + 1);
          }
        }
      }
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => this.convert(item, [...path, i], undefined, depth + 1));
    }
    if (isScalar(node)) return node.value;
    return null;
  }
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

function keyName(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return '';
  return JSON.stringify(key);
}

function rangeOf(node: unknown): Range {
  const range = (node as Node | null)?.range;
  return range ? [range[0], range[1]] : [0, 0];
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function onlyComments(text: string): boolean {
  return text.split('\n').every((line) => /^\s*(#.*)?$/.test(line) || /^\s*---\s*$/.test(line));
}

/** UTF-8 length of the text, counting no further than just past `limit`. */
function utf8Length(text: string, limit: number): number {
  if (text.length * 3 <= limit) return text.length; // cannot be over the limit
  let bytes = 0;
  for (let i = 0; i < text.length && bytes <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Scans the token stream (iteratively, so it cannot overflow the stack) for nesting past
 * the limit: flow collections (`[[[[`), compact sequences (`- - - -`) and runaway
 * indentation. Returns the offset of the first excessive token.
 */
function findExcessiveNesting(text: string, maxDepth: number): number | undefined {
  let offset = 0;
  let flow = 0;
  let compact = 0;
  let lineStart = true;
  let skipNext = false;
  for (const token of new Lexer().lex(text)) {
    const here = offset;
    offset += token.length;
    if (skipNext) {
      skipNext = false; // the body of a scalar, which may span lines
      lineStart = token.endsWith('\n');
      continue;
    }
    const type = CST.tokenType(token);
    switch (type) {
      case 'scalar':
        skipNext = true;
        break;
      case 'newline':
        lineStart = true;
        compact = 0;
        break;
      case 'space':
        if (lineStart && flow === 0 && token.length > maxDepth * 4) return here;
        break;
      case 'flow-map-start':
      case 'flow-seq-start':
        if (++flow > maxDepth) return here;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
        if (++compact > maxDepth) return here;
        break;
      default:
        break;
    }
    if (type !== 'space' && type !== 'newline') lineStart = false;
  }
  return undefined;
}

const YAML_HINTS: Partial<Record<YAMLError['code'], string>> = {
  BLOCK_AS_IMPLICIT_KEY:
    'check the indentation of this line, and quote values that contain ": " (for example run: "echo a: b")',
  MISSING_CHAR: 'close the quote or bracket that was opened earlier',
  BAD_INDENT: 'indent this line like its siblings, with spaces',
  UNEXPECTED_TOKEN: 'check the indentation and quoting around here',
  MULTILINE_IMPLICIT_KEY:
    'a key must fit on one line; check for a missing ":" or a stray line break',
  BAD_DQ_ESCAPE: 'use single quotes, or escape the backslash as \\\\',
  BAD_SCALAR_START: 'quote this value; plain values cannot start with this character',
  BAD_ALIAS: 'define the anchor (&name) before using the alias (*name)',
  KEY_OVER_1024_CHARS: 'shorten the key',
};

function yamlErrorDiagnostic(
  source: SourceFile,
  error: YAMLError,
  severity: 'error' | 'warning',
): Diagnostic {
  const range: Range = [error.pos[0], error.pos[1]];
  const firstLine = error.message.split('\n')[0] ?? error.message;
  switch (error.code) {
    case 'TAB_AS_INDENT':
      return source.diagnostic(
        'yaml-tab',
        'a tab is used for indentation; YAML allows only spaces. Replace the tab with spaces.',
        range,
        [],
        severity,
      );
    case 'DUPLICATE_KEY': {
      const rest = source.text.slice(error.pos[0]);
      const key = (
        /^\s*(["']?)([^\n]*?)\1\s*:/.exec(rest)?.[2] ??
        rest.split('\n')[0] ??
        ''
      ).trim();
      return source.diagnostic(
        'duplicate-key',
        `the key ${JSON.stringify(key)} appears twice in the same mapping; remove or rename one of them.`,
        range,
        [],
        severity,
      );
    }
    case 'MULTIPLE_DOCS':
      return source.diagnostic(
        'multiple-documents',
        'the file holds more than one YAML document (a `---` line follows content); keep one pipeline per file.',
        range,
        [],
        severity,
      );
    case 'RESOURCE_EXHAUSTION':
      return source.diagnostic(
        'too-deep',
        'the document is too deeply nested to parse; flatten the structure.',
        range,
        [],
        severity,
      );
    default: {
      const lineText = source.lineText(source.position(error.pos[0]).line);
      // `[make ${{ x }}]`: in a flow list, `{` opens a mapping. The generic message misleads.
      const hint =
        lineText.includes('${{') && /[[{]/.test(lineText.replace(/\$\{\{[^}]*\}\}/g, ''))
          ? 'a value holding ${{ }} inside [ ] or { } must be quoted, like ["make ${{ matrix.target }}"]'
          : YAML_HINTS[error.code];
      const message = firstLine.replace(/ at line \d+, column \d+:?$/, '');
      return source.diagnostic(
        'yaml-syntax',
        `${lowerFirst(message)}${hint ? `; ${hint}` : ''}.`.replace(/\.\.$/, '.'),
        range,
        [],
        severity,
      );
    }
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
