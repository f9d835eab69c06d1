// @ts-check
/**
 * The layer table of docs/architecture.md ("Layers and the direction of dependencies"),
 * read as data and turned into dependency-cruiser rules: an allow list per layer.
 *
 * `.dependency-cruiser.cjs` calls this on every run, so the rules cannot drift from the
 * table; `test/layering.test.ts` proves each rule by feeding dependency-cruiser imports
 * it must refuse and imports it must let through.
 *
 * The table's format (anything else is an error that names the row and the fix):
 * - `directory`: `` `src/<dir>/` `` for a layer, or `` `src/<dir>/<glob>` `` for files of
 *   a layer with their own allowances (`*` matches within a file name; the most specific
 *   row wins). Rows outside `src/` (the `ui/` app) are documentation only.
 * - `may depend on`: `nothing`, `nothing of ours`, `everything`, or a comma-separated list
 *   of layers (`` `pipeline` ``) and single modules (`` `runtime/outcome.ts` ``), each in
 *   backticks, optionally followed by a remark in parentheses. A layer may always import
 *   itself.
 * - `npm packages`: `none` or a comma-separated list of package names in backticks.
 */
'use strict';

const { readFileSync } = require('node:fs');

const HEADING = '## Layers and the direction of dependencies';
const DOC = 'docs/architecture.md';

/**
 * One row of the table about `src/`.
 * @typedef {object} LayerRow
 * @property {string} id rule-name part: `server`, `cli-run`
 * @property {string} dir the layer directory under `src/`: `cli`
 * @property {string | undefined} glob the files of the layer the row is about: `run*.ts`
 * @property {'everything' | string[]} layers layers it may import (besides its own)
 * @property {string[]} modules single modules it may import: `runtime/outcome.ts`
 * @property {string[]} packages npm packages it may import
 * @property {number} line 1-based line of the row in the document
 */

/**
 * @param {string} message
 * @param {number} [line]
 * @returns {never}
 */
function fail(message, line) {
  throw new Error(
    `${DOC}${line === undefined ? '' : `:${line}`}: layer table: ${message} ` +
      `(see the format at the top of scripts/layer-rules.cjs)`,
  );
}

/** @param {string} line */
function cells(line) {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split('|').map((c) => c.trim());
}

/**
 * Reads a cell that is a list of backticked names, or one of the given words.
 * @param {string} cell
 * @param {string[]} words
 * @param {string} what
 * @param {number} line
 * @returns {{ word?: string, names: string[] }}
 */
function readList(cell, words, what, line) {
  const word = cell.toLowerCase();
  if (words.includes(word)) return { word, names: [] };
  const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
  // Prose between the names would be read as a rule it is not: only separators may stay.
  const rest = cell
    .replace(/`[^`]*`/g, '')
    .replace(/\([^)]*\)/g, '')
    .replace(/\band\b/g, '')
    .replace(/[,\s]/g, '');
  if (names.length === 0 || rest !== '')
    fail(
      `cannot read ${what} "${cell}": write ${words.map((w) => `"${w}"`).join(' or ')}, ` +
        `or names in backticks separated by commas (a remark may follow in parentheses)`,
      line,
    );
  return { names };
}

/**
 * Parses the layer table out of the architecture document.
 * @param {string} markdown the whole of docs/architecture.md
 * @returns {LayerRow[]}
 */
function parseLayerTable(markdown) {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === HEADING);
  if (start < 0) fail(`no heading "${HEADING}"`);
  let i = start + 1;
  while (i < lines.length && !lines[i]?.startsWith('|')) {
    if (lines[i]?.startsWith('## ')) fail(`no table under "${HEADING}"`, i + 1);
    i++;
  }
  if (i >= lines.length) fail(`no table under "${HEADING}"`);
  const header = cells(lines[i] ?? '').map((c) => c.toLowerCase());
  const col = (/** @type {string} */ name) => {
    const at = header.indexOf(name);
    if (at < 0) fail(`the table has no column "${name}"`, i + 1);
    return at;
  };
  const dirCol = col('directory');
  const depCol = col('may depend on');
  const pkgCol = col('npm packages');
  i += 2; // the header and its --- line

  /** @type {{ row: LayerRow, deps: string[] }[]} */
  const read = [];
  for (; i < lines.length && lines[i]?.startsWith('|'); i++) {
    const line = i + 1;
    const row = cells(lines[i] ?? '');
    if (row.length !== header.length)
      fail(`the row has ${row.length} cells, the header ${header.length}`, line);
    const where = /^`([^`]+)`$/.exec(row[dirCol] ?? '')?.[1];
    if (where === undefined) fail(`the directory "${row[dirCol]}" is not in backticks`, line);
    if (!where.startsWith('src/')) continue;
    const m = /^src\/([a-z][a-z0-9-]*)\/([^/]*)$/.exec(where);
    if (!m) fail(`"${where}" is neither src/<dir>/ nor src/<dir>/<file glob>`, line);
    const dir = m[1] ?? '';
    const glob = m[2] === '' ? undefined : m[2];
    if (glob !== undefined && !/^[A-Za-z0-9_.*-]+$/.test(glob))
      fail(`"${glob}": a file glob may hold letters, digits, ., -, _ and *`, line);
    const deps = readList(
      row[depCol] ?? '',
      ['nothing', 'nothing of ours', 'everything'],
      '"may depend on"',
      line,
    );
    const pkgs = readList(row[pkgCol] ?? '', ['none'], '"npm packages"', line);
    for (const p of pkgs.names)
      if (!/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/.test(p)) fail(`"${p}" is not a package name`, line);
    const id =
      glob === undefined
        ? dir
        : `${dir}-${glob
            .replace(/\.ts$/, '')
            .replace(/[^A-Za-z0-9]+/g, '-')
            .replace(/^-|-$/g, '')}`;
    read.push({
      row: {
        id,
        dir,
        glob,
        layers: deps.word === 'everything' ? 'everything' : [],
        modules: [],
        packages: pkgs.names,
        line,
      },
      deps: deps.names,
    });
  }

  const dirs = new Set(read.filter((r) => r.row.glob === undefined).map((r) => r.row.dir));
  const ids = new Set();
  for (const { row, deps } of read) {
    if (ids.has(row.id)) fail(`two rows for src/${row.dir}/${row.glob ?? ''}`, row.line);
    ids.add(row.id);
    if (!dirs.has(row.dir))
      fail(`src/${row.dir}/${row.glob} has no row for its directory src/${row.dir}/`, row.line);
    for (const dep of deps) {
      const layer = dep.split('/')[0] ?? '';
      if (!dirs.has(layer))
        fail(`\`${dep}\`: "${layer}" is not a layer of this table (add its row first)`, row.line);
      if (dep === layer) {
        if (Array.isArray(row.layers)) row.layers.push(layer);
      } else if (/^[a-z][a-z0-9-]*\/[A-Za-z0-9_./-]+\.ts$/.test(dep)) row.modules.push(dep);
      else fail(`\`${dep}\` is neither a layer nor a module like \`runtime/outcome.ts\``, row.line);
    }
  }
  return read.map((r) => r.row);
}

/** @param {string} s */
function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** @param {LayerRow} row the regular expression of the modules a row is about */
function rowPath(row) {
  return row.glob === undefined
    ? `^src/${row.dir}/`
    : `^src/${row.dir}/${row.glob.split('*').map(escape).join('[^/]*')}$`;
}

/**
 * The dependency-cruiser rules of the table: per row, what of ours it may import
 * (`layer-<id>`) and which npm packages (`packages-<id>`); and one rule that fails every
 * module under `src/` whose directory has no row (`layer-has-a-row`).
 * @param {LayerRow[]} rows
 * @returns {{ forbidden: object[], required: object[] }}
 */
function layerRules(rows) {
  const dirs = rows.filter((r) => r.glob === undefined).map((r) => r.dir);
  const where = `the layer table of ${DOC}`;
  /** @type {object[]} */
  const forbidden = [];
  for (const row of rows) {
    const more = rows.filter((r) => r.dir === row.dir && r.glob !== undefined && r !== row);
    const from = more.length
      ? { path: rowPath(row), pathNot: more.map(rowPath) }
      : { path: rowPath(row) };
    const name = row.glob === undefined ? `src/${row.dir}/` : `src/${row.dir}/${row.glob}`;
    const layers = row.layers === 'everything' ? dirs : [row.dir, ...row.layers];
    const own = [...new Set(layers)].map(escape).join('|');
    const allowed = row.layers === 'everything' ? [] : [...row.layers, ...row.modules];
    forbidden.push({
      name: `layer-${row.id}`,
      severity: 'error',
      comment:
        `${name} may import ${row.layers === 'everything' ? 'every layer of the table' : `its own layer and ${allowed.join(', ') || 'nothing else of ours'}`} ` +
        `(${where}, line ${row.line}). Keep the import out, or change the row if the design changes.`,
      from,
      to: {
        path: '^src/',
        pathNot: [`^src/(${own})/`, ...row.modules.map((m) => `^src/${escape(m)}$`)],
      },
    });
    forbidden.push({
      name: `packages-${row.id}`,
      severity: 'error',
      comment:
        `${name} may use the npm packages ${row.packages.join(', ') || '(none)'} ` +
        `(${where}, line ${row.line}). Keep the package out, or add it to the row's npm packages.`,
      from,
      to: {
        path: '^node_modules/',
        // Dev dependencies are for tests; no-dev-deps-in-src keeps them out of the rest.
        dependencyTypesNot: ['npm-dev'],
        ...(row.packages.length
          ? { pathNot: `^node_modules/(${row.packages.map(escape).join('|')})/` }
          : {}),
      },
    });
  }
  const required = [
    {
      name: 'layer-has-a-row',
      severity: 'error',
      comment:
        `Every module under src/ lives in a layer directory with a row in ${where}: ` +
        `add a row saying what the directory is, what it may depend on and which npm packages it uses.`,
      module: { path: '^src/', pathNot: `^src/(${dirs.map(escape).join('|')})/` },
      // Nothing matches this, so every such module breaks the rule, with or without imports.
      to: { path: '^$' },
    },
  ];
  return { forbidden, required };
}

/**
 * The rules of the table in the architecture document under `root`.
 * @param {string} root the repository (or a tree laid out like it)
 */
function layerRulesOf(root) {
  return layerRules(parseLayerTable(readFileSync(`${root}/${DOC}`, 'utf8')));
}

module.exports = { parseLayerTable, layerRules, layerRulesOf, DOC };
