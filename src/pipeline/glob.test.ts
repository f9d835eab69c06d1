import { describe, expect, it } from 'vitest';
import { matchPatterns } from './glob.ts';

describe('branch patterns', () => {
  it('keeps * inside one segment and lets ** cross /', () => {
    expect(matchPatterns(['release/*'], 'release/2.0')).toBe(true);
    expect(matchPatterns(['release/*'], 'release/2.0/hotfix')).toBe(false);
    expect(matchPatterns(['release/**'], 'release/2.0/hotfix')).toBe(true);
  });
  it('excludes with !', () => {
    expect(matchPatterns(['feature/**', '!feature/wip-*'], 'feature/login')).toBe(true);
    expect(matchPatterns(['feature/**', '!feature/wip-*'], 'feature/wip-x')).toBe(false);
    expect(matchPatterns(['!main'], 'dev')).toBe(true);
  });
  it('treats regex characters literally', () => {
    expect(matchPatterns(['v1.0'], 'v1x0')).toBe(false);
    expect(matchPatterns(['a+b'], 'a+b')).toBe(true);
  });
});
