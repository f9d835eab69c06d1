import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEntryName, extractTar, readTar, UnsafeArchiveError } from './tar-extract.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-tar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Entry = Parameters<ReturnType<typeof pack>['entry']>[0] & { body?: string };

function tar(entries: Entry[]): NodeJS.ReadableStream {
  const archive = pack();
  for (const { body, ...header } of entries) archive.entry(header, body ?? '');
  archive.finalize();
  return archive as unknown as NodeJS.ReadableStream;
}

let serial = 0;
function dirs(): { dest: string; outside: string } {
  const base = join(root, String(++serial));
  mkdirSync(join(base, 'dest'), { recursive: true });
  mkdirSync(join(base, 'outside'));
  return { dest: join(base, 'dest'), outside: join(base, 'outside') };
}

describe('checkEntryName', () => {
  it('normalises harmless names and refuses escaping ones', () => {
    expect(checkEntryName('./a//b/./c/')).toEqual({ ok: true, path: 'a/b/c' });
    expect(checkEntryName('./')).toEqual({ ok: true, path: '' });
    expect(checkEntryName('/etc/passwd').ok).toBe(false);
    expect(checkEntryName('a/../../x').ok).toBe(false);
    expect(checkEntryName('..').ok).toBe(false);
    expect(checkEntryName('a\0b').ok).toBe(false);
    // A name that only looks like a climb is a plain file name.
    expect(checkEntryName('..a/b..')).toEqual({ ok: true, path: '..a/b..' });
  });
});

describe('extractTar over hostile archives', () => {
  it('refuses an absolute path and writes nothing there', async () => {
    const { dest, outside } = dirs();
    await expect(
      extractTar(tar([{ name: `${outside}/pwned`, body: 'x' }]), dest),
    ).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(existsSync(join(outside, 'pwned'))).toBe(false);
  });

  it('refuses a name that climbs out with ..', async () => {
    const { dest, outside } = dirs();
    await expect(extractTar(tar([{ name: '../outside/pwned', body: 'x' }]), dest)).rejects.toThrow(
      /"\.\."/,
    );
    expect(existsSync(join(outside, 'pwned'))).toBe(false);
  });

  it('refuses to write through a symlink the archive made, absolute or relative', async () => {
    for (const linkname of ['ABS', '../outside']) {
      const { dest, outside } = dirs();
      const archive = tar([
        { name: 'link', type: 'symlink', linkname: linkname === 'ABS' ? outside : linkname },
        { name: 'link/pwned', body: 'x' },
      ]);
      await expect(extractTar(archive, dest)).rejects.toThrow(/"link" is a symlink that leads out/);
      expect(existsSync(join(outside, 'pwned'))).toBe(false);
    }
  });

  it('refuses to write through a symlink that was already in the destination', async () => {
    const { dest, outside } = dirs();
    symlinkSync(outside, join(dest, 'escape'));
    await expect(
      extractTar(tar([{ name: 'escape/deeper/pwned', body: 'x' }]), dest),
    ).rejects.toThrow(/escape/);
    expect(existsSync(join(outside, 'deeper'))).toBe(false);
  });

  it('replaces a symlink at an entry’s own path instead of following it', async () => {
    const { dest, outside } = dirs();
    writeFileSync(join(outside, 'victim'), 'untouched');
    const archive = tar([
      { name: 'file', type: 'symlink', linkname: join(outside, 'victim') },
      { name: 'file', body: 'new content' },
    ]);
    await extractTar(archive, dest);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('untouched');
    expect(lstatSync(join(dest, 'file')).isFile()).toBe(true);
    expect(readFileSync(join(dest, 'file'), 'utf8')).toBe('new content');
  });

  it('refuses a symlink swapped in after a directory was entered through an inside link', async () => {
    const { dest, outside } = dirs();
    mkdirSync(join(outside, 'sub'));
    const archive = tar([
      { name: 'real/sub', type: 'directory' },
      { name: 'via', type: 'symlink', linkname: 'real' },
      { name: 'via/sub/ok', body: 'inside' },
      // The link is replaced by one that leads out; the path must be checked again.
      { name: 'via', type: 'symlink', linkname: outside },
      { name: 'via/sub/pwned', body: 'x' },
    ]);
    await expect(extractTar(archive, dest)).rejects.toThrow(/"via" is a symlink that leads out/);
    expect(readFileSync(join(dest, 'real', 'sub', 'ok'), 'utf8')).toBe('inside');
    expect(existsSync(join(outside, 'sub', 'pwned'))).toBe(false);
  });

  it('makes hard links only to files it wrote itself', async () => {
    const { dest, outside } = dirs();
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(outside, join(dest, 'out'));
    const archive = tar([
      { name: 'a', body: 'mine' },
      { name: 'b', type: 'link', linkname: 'a' },
      { name: 'c', type: 'link', linkname: 'out/secret' },
    ]);
    const result = await extractTar(archive, dest);
    expect(readFileSync(join(dest, 'b'), 'utf8')).toBe('mine');
    expect(existsSync(join(dest, 'c'))).toBe(false);
    expect(result).toMatchObject({ files: 1, links: 1, skipped: 1 });
  });

  it('stops at the entry and byte limits', async () => {
    const { dest } = dirs();
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, body: 'x' }));
    await expect(
      extractTar(tar(many), dest, { limits: { maxEntries: 10, maxBytes: 1e9 } }),
    ).rejects.toThrow(/more than 10 entries/);
    await expect(
      extractTar(tar([{ name: 'big', body: 'x'.repeat(2000) }]), dest, {
        limits: { maxEntries: 10, maxBytes: 1000 },
      }),
    ).rejects.toThrow(/more than 1000 bytes/);
    expect(existsSync(join(dest, 'big'))).toBe(false);
  });

  it('skips devices and FIFOs', async () => {
    const { dest } = dirs();
    const result = await extractTar(
      tar([
        { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 },
        { name: 'pipe', type: 'fifo' },
        { name: 'ok', body: 'fine' },
      ]),
      dest,
    );
    expect(result).toMatchObject({ files: 1, skipped: 2 });
    expect(existsSync(join(dest, 'null'))).toBe(false);
  });
});

describe('extractTar keeps what a build made', () => {
  it('keeps modes (without setuid), symlink chains and read-only directories', async () => {
    const { dest } = dirs();
    const result = await extractTar(
      tar([
        { name: 'bin/', type: 'directory', mode: 0o555 },
        { name: 'bin/tool', mode: 0o4755, body: '#!/bin/sh\n' },
        { name: 'lib/libz.so.1.3', mode: 0o644, body: 'ELF' },
        { name: 'lib/libz.so.1', type: 'symlink', linkname: 'libz.so.1.3' },
        { name: 'lib/libz.so', type: 'symlink', linkname: 'libz.so.1' },
      ]),
      dest,
    );
    expect(result).toMatchObject({ files: 2, symlinks: 2, directories: 1 });
    expect(statSync(join(dest, 'bin', 'tool')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(dest, 'bin')).mode & 0o777).toBe(0o555);
    expect(readlinkSync(join(dest, 'lib', 'libz.so'))).toBe('libz.so.1');
    expect(readFileSync(join(dest, 'lib', 'libz.so'), 'utf8')).toBe('ELF');
  });

  it('renames and filters entries with map', async () => {
    const { dest } = dirs();
    await extractTar(
      tar([
        { name: 'dist/a.txt', body: 'a' },
        { name: 'dist/b.log', body: 'b' },
      ]),
      dest,
      { map: (e) => (e.path.endsWith('.txt') ? `out/${e.path}` : null) },
    );
    expect(readFileSync(join(dest, 'out', 'dist', 'a.txt'), 'utf8')).toBe('a');
    expect(existsSync(join(dest, 'out', 'dist', 'b.log'))).toBe(false);
  });

  it('reads entries without writing them (readTar)', async () => {
    const seen: string[] = [];
    await readTar(
      tar([
        { name: './x/y', body: '1' },
        { name: 'z', type: 'symlink', linkname: '/anywhere' },
      ]),
      (entry) => {
        seen.push(`${entry.type}:${entry.path}`);
        return Promise.resolve();
      },
    );
    expect(seen).toEqual(['file:x/y', 'symlink:z']);
  });
});
