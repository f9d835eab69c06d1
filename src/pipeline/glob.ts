/**
 * Glob patterns for branch and tag filters: `*` matches within one path segment,
 * `**` matches across `/`, `?` matches one character. A list of patterns matches
 * when any positive pattern matches and no `!negated` pattern does.
 */

/** Why a pattern cannot be used, or undefined when it is fine. */
export function checkPattern(pattern: string): string | undefined {
  const body = pattern.startsWith('!') ? pattern.slice(1) : pattern;
  if (body.trim() === '')
    return 'the pattern is empty; write a branch or tag name or a glob like release/*';
  if (/\s/.test(body)) return 'branch and tag names cannot contain spaces';
  return undefined;
}

/** Compiles one glob (without a leading `!`) into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i);
    if (c === '*') {
      if (glob.charAt(i + 1) === '*') {
        source += '.*';
        i++;
      } else source += '[^/]*';
    } else if (c === '?') source += '[^/]';
    else source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** True when `value` matches the pattern list (see the module comment). */
export function matchPatterns(patterns: readonly string[], value: string): boolean {
  const positive = patterns.filter((p) => !p.startsWith('!'));
  const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const included = positive.length === 0 ? true : positive.some((p) => globToRegExp(p).test(value));
  return included && !negative.some((p) => globToRegExp(p).test(value));
}
