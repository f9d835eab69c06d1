/**
 * Splits a command line into words the way a POSIX shell would for simple cases:
 * whitespace separates words, single quotes keep text literally, double quotes keep
 * spaces and honour backslash escapes. No expansion of any kind happens.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else current += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line.charAt(i + 1)))
        current += line.charAt(++i);
      else current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else if (c === '\\' && i + 1 < line.length) {
      current += line.charAt(++i);
      inWord = true;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/** The argv prefix for a `shell:` value; the script is appended as the last argument. */
export function shellCommand(shell: string | undefined): string[] {
  switch (shell ?? 'sh') {
    case 'sh':
      return ['sh', '-e', '-c'];
    case 'bash':
      return ['bash', '-e', '-o', 'pipefail', '-c'];
    default:
      return splitWords(shell ?? 'sh');
  }
}

/** Resolves a POSIX path against a base directory, normalizing `.` and `..`. */
export function resolvePosix(base: string, path: string): string {
  const joined = path.startsWith('/') ? path : `${base}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}
