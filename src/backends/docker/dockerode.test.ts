import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { deferredFunction, Docker } from './dockerode.ts';

const require = createRequire(import.meta.url);

describe('dockerode with deferred BuildKit-session and SSH modules', () => {
  it('defers only modules that export one function, so a deferred call behaves the same', () => {
    // If an upgrade of dockerode changes these, the deferral must change with it.
    expect(typeof require('dockerode/lib/session.js')).toBe('function');
    expect(typeof require('docker-modem/lib/ssh.js')).toBe('function');
    expect(typeof Docker).toBe('function');
    expect(typeof new Docker({ socketPath: '/nonexistent.sock' }).ping).toBe('function');
  });

  it('loads on the first call only, and forwards this, arguments and the result', () => {
    let loads = 0;
    const real = function (this: { base: number }, a: number, b: number): number {
      return this.base + a + b;
    };
    const deferred = deferredFunction(() => {
      loads++;
      return real;
    });
    expect(loads).toBe(0);
    expect(deferred.call({ base: 1 }, 2, 3)).toBe(6);
    expect(deferred.call({ base: 10 }, 2, 3)).toBe(15);
    expect(loads).toBe(1);
    expect(() => deferredFunction(() => ({}))()).toThrow(/does not export a function/);
  });
});
