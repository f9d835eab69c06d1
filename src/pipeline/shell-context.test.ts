import { describe, expect, it } from 'vitest';
import { quoteContexts, type QuoteContext } from './shell-context.ts';

/** The context at the `@` in the script (the `@` stands for an expression). */
function at(script: string): QuoteContext {
  const offset = script.indexOf('@');
  if (offset < 0) throw new Error('no @ in the script');
  return quoteContexts(script)[offset]!;
}

describe('quoteContexts', () => {
  it('tells bare, double-quoted and single-quoted text apart', () => {
    expect(at('echo @')).toBe('bare');
    expect(at('echo --name=@x')).toBe('bare');
    expect(at('echo "a @ b"')).toBe('double');
    expect(at("echo 'a @ b'")).toBe('single');
    expect(at(`echo "it's @"`)).toBe('double');
    expect(at(`echo 'say "@"'`)).toBe('single');
    expect(at('echo "a" @')).toBe('bare');
    expect(at("echo 'a' \"b\" '@'")).toBe('single');
  });

  it('follows escapes', () => {
    expect(at('echo \\" @')).toBe('bare');
    expect(at('echo "a \\" @"')).toBe('double');
    expect(at("echo \\' @")).toBe('bare');
  });

  it('follows command substitution, backquotes and parameter expansion', () => {
    expect(at('echo "$(echo @)"')).toBe('bare');
    expect(at('echo "$(echo "@")"')).toBe('double');
    expect(at('echo "$(f (x) ) @"')).toBe('double');
    expect(at('echo `echo @`')).toBe('bare');
    expect(at('echo "`echo @`"')).toBe('bare');
    expect(at('echo ${x:-@}')).toBe('bare');
    expect(at('echo "${x:-@}"')).toBe('double');
    expect(at('echo "${x:-\'@\'}"')).toBe('double');
  });

  it('marks arithmetic, ANSI-C quotes and comments', () => {
    expect(at('echo $(( @ + 1 ))')).toBe('arithmetic');
    expect(at('echo $(( (1 + @) ))')).toBe('arithmetic');
    expect(at('echo $(( 1 )) @')).toBe('bare');
    expect(at("echo $'a\\'b @'")).toBe('ansi');
    expect(at('echo a # note @')).toBe('comment');
    expect(at('echo a#@')).toBe('bare');
    expect(at('# @\necho')).toBe('comment');
    expect(at('# x\necho @')).toBe('bare');
  });

  it('reads here-documents, quoted or not, and what follows them', () => {
    expect(at('cat <<EOF\nline @\nEOF\n')).toBe('heredoc');
    expect(at("cat <<'EOF'\nline @\nEOF\n")).toBe('literal-heredoc');
    expect(at('cat <<"EOF"\nline @\nEOF\n')).toBe('literal-heredoc');
    expect(at('cat <<\\EOF\nline @\nEOF\n')).toBe('literal-heredoc');
    expect(at('cat <<-EOF\n\tline @\n\tEOF\n')).toBe('heredoc');
    expect(at('cat <<EOF > "f @"\nbody\nEOF\n')).toBe('double');
    expect(at('cat <<EOF\nbody\nEOF\necho @')).toBe('bare');
    expect(at("cat <<A <<'B'\na\nA\nb @\nB\n")).toBe('literal-heredoc');
    expect(at('cat <<<@')).toBe('bare');
  });
});
