/**
 * What a real `slipway server` process does when what it stands on is missing or broken
 * at start: no container engine, a store file that is damaged or not a store at all.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slipway } from '../support/cli.ts';
import { project } from '../support/project.ts';
import { startTestServer } from '../support/server.ts';

describe('slipway server start-up faults (real process)', () => {
  it('refuses to start without a container engine unless agent.backend: process is chosen explicitly', async () => {
    const socket = `/tmp/slipway-no-engine-${randomBytes(4).toString('hex')}.sock`;
    const dir = project({
      'default.yml': 'jobs: {}\n',
      'process.yml': 'agent:\n  backend: process\n',
    });
    const env = { DOCKER_HOST: `unix://${socket}` };
    const refused = await slipway(
      ['server', '--config', join(dir, 'default.yml'), '--data-dir', join(dir, 'd1')],
      { env },
    );
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(
      `no container engine answers at unix://${socket} (DOCKER_HOST)`,
    );
    expect(refused.stderr).toMatch(/start dockerd/);
    expect(refused.stderr).toMatch(/agent\.backend: process/);
    expect(refused.stderr).toMatch(/\[SW_ENGINE_UNREACHABLE\]/);
    expect(refused.stderr).not.toMatch(/listening on/);

    // Chosen explicitly: it starts, and says loudly that builds are not isolated.
    const server = await startTestServer(join(dir, 'process.yml'), join(dir, 'd2'), env);
    expect(server.process.output()).toMatch(/WARNING: agent\.backend is process/);
    const agents = await server.get<{ backend: string }[]>('/api/v1/agents');
    expect(agents.map((a) => a.backend)).toEqual(['process']);
  });
});
