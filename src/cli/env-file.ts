import { readFile } from 'node:fs/promises';
import { SlipwayError } from '../errors/index.ts';

/**
 * Reads a dotenv-style file: `KEY=value` lines, `#` comments, blank lines, optional
 * `export `, values optionally in single or double quotes (double quotes take \n).
 */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SlipwayError(
      'SW_FILE_NOT_FOUND',
      `cannot read env file ${path}: ${(error as Error).message}`,
    );
  }
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        `${path}:${i + 1}: expected KEY=value, found ${JSON.stringify(line.slice(0, 40))}`,
      );
    }
    const [, key, value = ''] = match;
    out[key!] =
      value.startsWith('"') && value.endsWith('"') && value.length >= 2
        ? value.slice(1, -1).replace(/\\n/g, '\n').replace(/\\"/g, '"')
        : value.startsWith("'") && value.endsWith("'") && value.length >= 2
          ? value.slice(1, -1)
          : value.replace(/\s+#.*$/, '');
  });
  return out;
}
