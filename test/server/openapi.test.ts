/**
 * The OpenAPI document is generated from the routes' own schemas: every route the app
 * serves is in it (whole path and method), every operation in it is served, and what
 * anyone may call is documented as open. Routes are collected as they are registered, so
 * a route added anywhere later without a schema shows up here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRoutes } from '../../src/server/auth.ts';
import { API_TOKEN, apiApp, type ApiApp } from '../support/api-app.ts';

interface Operation {
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

let api: ApiApp;
let uiDir: string;
let doc: Document;
const served = new Set<string>();

beforeAll(async () => {
  // With the web UI: its file routes are not part of the API and must not be documented.
  uiDir = mkdtempSync(join(tmpdir(), 'slipway-ui-'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Slipway</title>');
  mkdirSync(join(uiDir, 'assets'));
  writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log(1);');
  api = await apiApp({
    uiDir,
    onRoute: (route) => {
      for (const method of route.method)
        if (
          method !== 'HEAD' &&
          !route.url.startsWith('/assets/') &&
          !route.url.startsWith('/index')
        )
          served.add(`${method} ${route.url}`);
    },
  });
  const response = await api.app.inject({
    url: '/api/v1/openapi.json',
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  expect(response.statusCode).toBe(200);
  doc = response.json<Document>();
});

afterAll(async () => {
  await api.close();
  rmSync(uiDir, { recursive: true, force: true });
});

function documented(): Set<string> {
  const keys = new Set<string>();
  for (const [path, operations] of Object.entries(doc.paths))
    for (const method of Object.keys(operations))
      keys.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
  return keys;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with schemas made from the contract', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Build', 'BuildDetail', 'Job', 'Error', 'Diagnostic']),
    );
  });

  it('documents every route the app serves, with its whole path and method', () => {
    // The UI's index route ("/") is served by @fastify/static and is not part of the API.
    const api = [...served].filter((key) => key !== 'GET /');
    expect(api.length).toBeGreaterThan(20);
    expect(api.filter((key) => !documented().has(key))).toEqual([]);
  });

  it('documents no operation the app does not serve', () => {
    expect([...documented()].filter((key) => !served.has(key))).toEqual([]);
  });

  it('documents as open exactly the routes anyone may call', () => {
    const open = openRoutes(false);
    for (const [path, operations] of Object.entries(doc.paths))
      for (const [method, operation] of Object.entries(operations)) {
        const key = `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
        expect({ key, open: operation.security?.length === 0 }).toEqual({
          key,
          open: open.has(key),
        });
      }
  });

  it('describes path parameters, query parameters and answers of a route', () => {
    const search = doc.paths['/api/v1/builds/{id}/logs/search']!.get!;
    expect(search.parameters?.map((p) => `${p.in} ${p.name}`).sort()).toEqual([
      'path id',
      'query attempt',
      'query limit',
      'query q',
      'query step',
    ]);
    expect(Object.keys(search.responses).sort()).toEqual(['200', '400', '401', '404', '429']);
    const build = doc.paths['/api/v1/builds/{id}']!.get!;
    expect(JSON.stringify(build.responses['200'])).toContain('BuildDetail');
  });
});
