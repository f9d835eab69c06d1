/**
 * fastify's schema compilers, loaded when a route first needs one. fastify requires ajv
 * (with its formats) and fast-json-stringify when it starts, about 8 MiB resident; our
 * routes validate their bodies with zod and declare no fastify schemas, so an idle
 * controller never needs them. A route that declares one still gets fastify's own
 * compilers, loaded from where fastify loads them.
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
