import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, maskableSecrets, secretPatterns, shortSecretWarnings } from './masker.ts';

/** Feeds chunks through a fresh masker and returns everything it emitted. */
function run(secrets: string[], chunks: (string | Buffer)[]): Buffer {
  const masker = createMasker(secrets);
  const out = chunks.map((c) => masker.write(Buffer.isBuffer(c) ? c : Buffer.from(c)));
  out.push(masker.end());
  return Buffer.concat(out);
}

/** The reference: one leftmost-longest replace over the whole input. */
function reference(patterns: Buffer[], input: Buffer, replacement = Buffer.from('***')): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (i < input.length) {
    let best = 0;
    for (const p of patterns) {
      if (
        p.length > best &&
        input.length - i >= p.length &&
        input.subarray(i, i + p.length).equals(p)
      )
        best = p.length;
    }
    if (best > 0) {
      parts.push(input.subarray(pos, i), replacement);
      i += best;
      pos = i;
    } else i++;
  }
  parts.push(input.subarray(pos));
  return Buffer.concat(parts);
}

describe('masker', () => {
  it('catches a secret split at every position across two writes', () => {
    const secret = 'hunter2-swordfish';
    const text = `password=${secret}; again ${secret}.`;
    for (let cut = 0; cut <= text.length; cut++) {
      expect(run([secret], [text.slice(0, cut), text.slice(cut)]).toString()).toBe(
        'password=***; again ***.',
      );
    }
  });

  it('catches a secret written one byte at a time', () => {
    const text = 'token: s3cr3t-value done';
    expect(
      run(
        ['s3cr3t-value'],
        [...Buffer.from(text)].map((b) => Buffer.from([b])),
      ).toString(),
    ).toBe('token: *** done');
  });

  it('masks a multi-line secret, each of its lines, and its CRLF form', () => {
    const key = '-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----';
    const text = `start\n${key}\nmid ${key.replace(/\n/g, '\r\n')} one line: AAAABBBBCCCCDDDD end`;
    const chunks = text.match(/.{1,7}/gs) ?? [];
    const out = run([key], chunks).toString();
    expect(out).toBe('start\n***\nmid *** one line: *** end');
  });

  it('masks base64, URL-encoded and JSON-escaped forms', () => {
    const secret = 'p@ss w/"quote"';
    const forms = [
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
      encodeURIComponent(secret),
      JSON.stringify(secret).slice(1, -1),
    ];
    const out = run([secret], [forms.join(' | ')]).toString();
    expect(out).toBe('*** | *** | *** | ***');
  });

  it('masks lower-case %xx URL encoding and form encoding with +', () => {
    const secret = 'p@ss w/rd:ü~!';
    const forms = [
      encodeURIComponent(secret),
      encodeURIComponent(secret).toLowerCase(),
      encodeURIComponent(secret).replace(/%20/g, '+'),
      new URLSearchParams({ q: secret }).toString().slice(2),
      new URLSearchParams({ q: secret })
        .toString()
        .slice(2)
        .replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    ];
    expect(new Set(forms).size).toBe(5);
    expect(run([secret], [`a=${forms.join('&b=')}`]).toString()).toBe(
      'a=***&b=***&b=***&b=***&b=***',
    );
  });

  it('masks JSON with escaped slashes and with non-ASCII escaped', () => {
    const secret = 'https://user:pässword@host/x';
    const slashes = JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/');
    const ascii = slashes.replace('ä', '\\u00e4');
    expect(run([secret], [`{"a":"${slashes}","b":"${ascii}"}`]).toString()).toBe(
      '{"a":"***","b":"***"}',
    );
  });

  it('masks hex in lower and upper case', () => {
    const secret = 'tok-3141';
    const hex = Buffer.from(secret).toString('hex');
    expect(run([secret], [`${hex} ${hex.toUpperCase()}`]).toString()).toBe('*** ***');
  });

  it('releases a line at once when nothing in it may begin a secret', () => {
    const masker = createMasker(['postgres://admin:hunter22@db']);
    expect(masker.write(Buffer.from('connecting to db:5432\n')).toString()).toBe(
      'connecting to db:5432\n',
    );
    // Only "post", which may begin the secret, waits for the next write.
    expect(masker.write(Buffer.from('using post')).toString()).toBe('using ');
    expect(masker.write(Buffer.from('man\n')).toString()).toBe('postman\n');
  });

  it('prefers the longest secret at a position and handles overlaps like a one-shot replace', () => {
    expect(run(['token', 'token123'], ['x token123 token12']).toString()).toBe('x *** ***12');
    expect(run(['abcd', 'bcdefg'], ['abcdefg']).toString()).toBe('***efg');
    expect(run(['abcd', 'bcdefg'], ['zbcdefg']).toString()).toBe('z***');
  });

  it('applies a secret added mid-stream to bytes not yet emitted', () => {
    const masker = createMasker(['first-secret']);
    // "firs" may begin first-secret: it is held, and the new secret applies to it.
    const a = masker.write(Buffer.from('first-secret firs'));
    expect(a.toString()).toBe('*** ');
    masker.addSecret('firs-late-value');
    const b = masker.write(Buffer.from('-late-value and firs-late-value'));
    expect(Buffer.concat([a, b, masker.end()]).toString()).toBe('*** *** and ***');
  });

  it('passes binary bytes and split UTF-8 through unchanged', () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const emoji = Buffer.from('a 🎉 b');
    const input = Buffer.concat([binary, emoji]);
    const chunks = [input.subarray(0, 259), input.subarray(259, 260), input.subarray(260)];
    expect(run(['never-present'], chunks)).toEqual(input);
  });

  it('ignores secrets too short to mask, with a reason that does not contain them', () => {
    const { masked, ignored } = maskableSecrets(['abc', '', 'long-enough']);
    expect(masked).toEqual(['long-enough']);
    expect(ignored).toHaveLength(1);
    expect(ignored[0]!.reason).not.toContain('abc');
    expect(run(['abc'], ['abc abc']).toString()).toBe('abc abc');
  });

  it('warns about short secrets by name, never by value', () => {
    const warnings = shortSecretWarnings({ PIN: '123', TOKEN: 'long-enough', EMPTY: '' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^secret PIN is shorter than 4 characters, so it is NOT masked/);
    expect(warnings[0]).not.toContain('123');
  });

  it('streams a 50 MB line holding back less than the longest pattern', () => {
    const masker = createMasker(['secret-value-1234']);
    const longest = Math.max(...secretPatterns(['secret-value-1234']).map((p) => p.length));
    const chunk = Buffer.alloc(50 * 1024 * 1024, 'x');
    const out = masker.write(chunk);
    expect(out.length).toBeGreaterThanOrEqual(chunk.length - (longest - 1));
    expect(Buffer.concat([out, masker.end()]).length).toBe(chunk.length);
  });

  it('matches a one-shot replace for any secrets, inputs and chunking (property)', () => {
    const alphabet = fc.constantFrom(...'abcxyz\n-='.split(''));
    const secretArb = fc.array(alphabet, { minLength: 4, maxLength: 10 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.oneof(
            fc.array(alphabet, { maxLength: 12 }).map((a) => a.join('')),
            fc.nat(3),
          ),
          { maxLength: 30 },
        ),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 20 }),
        (secrets, pieces, sizes) => {
          const input = Buffer.from(
            pieces
              .map((p) => (typeof p === 'number' ? (secrets[p % secrets.length] ?? '') : p))
              .join(''),
          );
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < input.length; k++) {
            const size = sizes[k % sizes.length]!;
            chunks.push(input.subarray(i, i + size));
            i += size;
          }
          const out = run(secrets, chunks);
          expect(out.toString()).toBe(reference(secretPatterns(secrets), input).toString());
          for (const s of secrets) expect(out.includes(Buffer.from(s))).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
