/** The backend contract against the REAL Docker engine on this machine. */
import { createDockerBackend } from '../../src/backends/docker/docker-backend.ts';
import { describeBackendContract, command, exec } from './contract.ts';
import { SLEEPER, shScript } from './sh-actions.ts';
import { TEST_IMAGE } from '../support/images.ts';

const caps = {
  script: shScript,
  shell: ['sh', '-c'],
  image: TEST_IMAGE,
  containers: true,
  refusesContainers: false,
  limits: true,
  processTree: true,
  countSleepers: async (pod: Parameters<typeof exec>[0]) => {
    const r = await exec(pod, {
      ...command(caps, []),
      argv: ['sh', '-c', `ps -o args | grep -c "^${SLEEPER}$" || true`],
    });
    return Number(r.stdout.toString().trim());
  },
};

describeBackendContract('docker (real engine)', () => createDockerBackend(), caps);
