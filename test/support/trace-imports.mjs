// Records every module a process loads (ESM and CommonJS) into $SLIPWAY_TRACE_IMPORTS,
// one URL a line: `node --import ./test/support/trace-imports.mjs ...`. For tests that
// check what a command loads, not how long it takes.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const file = process.env.SLIPWAY_TRACE_IMPORTS;
if (file) {
  register(
    `data:text/javascript,${encodeURIComponent(`
      import { appendFileSync } from 'node:fs';
      export async function resolve(specifier, context, next) {
        const result = await next(specifier, context);
        appendFileSync(${JSON.stringify(file)}, result.url + '\\n');
        return result;
      }`)}`,
  );
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    let resolved = request;
    try {
      resolved = Module._resolveFilename(request, parent, isMain);
    } catch {
      // Unresolvable: the load below reports it.
    }
    appendFileSync(file, `cjs:${resolved}\n`);
    return load.call(this, request, parent, isMain);
  };
}
