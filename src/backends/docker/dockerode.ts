/**
 * dockerode, loaded without the parts Slipway never uses until something calls them.
 *
 * `require('dockerode')` also loads BuildKit sessions (`@grpc/grpc-js`, `@grpc/proto-loader`,
 * `protobufjs`, through `dockerode/lib/session.js`) and the SSH transport (`ssh2`, through
 * `docker-modem/lib/ssh.js`): more than four fifths of its load time, paid by every
 * `slipway run` before its first engine call (see docs/benchmarks.md, cli-startup). Both
 * modules export one function; while dockerode loads, they are replaced by functions that
 * load the real module on their first call, so behaviour is unchanged.
 */
import { createRequire } from 'node:module';
import type DockerClient from 'dockerode';

const require = createRequire(import.meta.url);

/** The modules loaded on first use: the request, and the package directory it comes from. */
const DEFERRED: readonly { request: string; from: string }[] = [
  { request: './session', from: '/dockerode/lib/' },
  { request: './ssh', from: '/docker-modem/lib/' },
];

interface ModuleLoader {
  _load(request: string, parent: { filename?: string } | undefined, isMain: boolean): unknown;
}

/** A function that loads `load()` on its first call and forwards every call to it. */
export function deferredFunction(load: () => unknown): (...args: unknown[]) => unknown {
  let real: ((...args: unknown[]) => unknown) | undefined;
  return function (this: unknown, ...args: unknown[]) {
    if (!real) {
      const loaded = load();
      if (typeof loaded !== 'function')
        throw new TypeError('a deferred dockerode module does not export a function');
      real = loaded as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
}

function loadDockerode(): typeof DockerClient {
  const loader = require('node:module') as ModuleLoader;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its own `this`, then put back as it was
  const original = loader._load;
  loader._load = function (request, parent, isMain) {
    const deferred = DEFERRED.find(
      (d) => d.request === request && parent?.filename?.includes(d.from),
    );
    if (deferred) return deferredFunction(() => original.call(this, request, parent, isMain));
    return original.call(this, request, parent, isMain);
  };
  try {
    return require('dockerode') as typeof DockerClient;
  } finally {
    loader._load = original;
  }
}

/** The dockerode class (see the module comment for what is loaded later). */
export const Docker = loadDockerode();
export type Docker = DockerClient;
