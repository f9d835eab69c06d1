/**
 * fastify's schema compilers, loaded when a route first needs one. fastify requires ajv
 * (with its formats) and fast-json-stringify when it starts, about 8 MiB resident; our
 * routes' schemas are zod and the app uses the zod type provider's compilers (http.ts),
 * so these factories never run and an idle controller never loads them. A plugin that
 * set its own JSON-schema route would still get fastify's compilers, loaded from where
 * fastify loads them.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Factories = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;
type ValidatorFactory = NonNullable<Factories['buildValidator']>;
type SerializerFactory = NonNullable<Factories['buildSerializer']>;

const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

let validator: ValidatorFactory | undefined;
let serializer: SerializerFactory | undefined;

/** The `schemaController` option of `Fastify()`: the default compilers, loaded lazily. */
export const lazySchemaCompilers: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: {
    buildValidator: (...args) => {
      validator ??= (fromFastify('@fastify/ajv-compiler') as () => ValidatorFactory)();
      return validator(...args);
    },
    buildSerializer: (...args) => {
      serializer ??= (
        fromFastify('@fastify/fast-json-stringify-compiler') as () => SerializerFactory
      )();
      return serializer(...args);
    },
  },
};
