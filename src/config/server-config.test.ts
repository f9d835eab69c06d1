import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, parseConfig } from './server-config.ts';

function problems(text: string): { code: string; where: string; message: string }[] {
  try {
    parseConfig(text, 'slipway.server.yml', {}, '/srv');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.diagnostics.map((d) => ({
      code: d.code,
      where: `${d.file}:${d.line}:${d.column} ${d.path}`,
      message: d.message,
    }));
  }
  return [];
}

describe('limits.min_free_disk', () => {
  it('defaults to the smaller of 512MiB and 5%', () => {
    expect(defaultConfig({}, '/srv').limits.minFreeDisk).toEqual({
      bytes: 512 * 1048576,
      percent: 5,
    });
  });

  it('takes a size, a share of the file system, or 0', () => {
    const of = (value: string): unknown =>
      parseConfig(`limits:\n  min_free_disk: "${value}"\n`, 'f.yml', {}, '/srv').limits.minFreeDisk;
    expect(of('2GiB')).toEqual({ bytes: 2 * 1073741824, percent: null });
    expect(of('10%')).toEqual({ bytes: null, percent: 10 });
    expect(of('0')).toEqual({ bytes: 0, percent: null });
  });

  it('says where and how to fix a value it cannot read', () => {
    expect(problems('limits:\n  min_free_disk: 0\n')).toEqual([]);
    expect(problems('limits:\n  min_free_disk: 512\n')).toEqual([
      {
        code: 'invalid-size',
        where: 'slipway.server.yml:2:18 limits.min_free_disk',
        message: '512 has no unit; write it like 512MiB or 512GiB, or a share like 5%',
      },
    ]);
    expect(problems('limits:\n  min_free_disk: lots\n')).toEqual([
      {
        code: 'invalid-size',
        where: 'slipway.server.yml:2:18 limits.min_free_disk',
        message:
          '"lots" is not a size; write it like 512MiB or 2GiB; or give a share of the file system, like 5%',
      },
    ]);
    expect(problems('limits:\n  min_free_disk: 100%\n')[0]).toMatchObject({
      code: 'invalid-value',
      where: 'slipway.server.yml:2:18 limits.min_free_disk',
    });
  });
});
