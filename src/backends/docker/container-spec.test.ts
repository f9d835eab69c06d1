/**
 * The pod → Engine API conversion, table-driven (after Woodpecker's
 * `pipeline/backend/kubernetes/pod_test.go`): for representative pod specs, the request
 * bodies the Docker backend sends, field by field where a user would notice a difference
 * (a limit not applied, a label missing, a policy not enforced). Names of containers and
 * the scripts inside them are not the contract and are not compared.
 */
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type ContainerSpec, type PodSpec, type ServiceSpec } from '../backend.ts';
import {
  cacheVolumeOptions,
  longLivedContainerOptions,
  policyRefusal,
  serviceContainerOptions,
  stepContainerOptions,
  workspaceVolumeOptions,
} from './container-spec.ts';

/** The primary's container id, as the engine would have returned it. */
const PRIMARY_ID = '3f2a9c';
const POD = 'r7-test-1a2b3c-a2';

/** The labels every resource of the pod must carry, so it can be found, adopted or swept. */
const OWNER_LABELS = {
  'dev.slipway.managed': '1',
  'dev.slipway.creator': 'controller:ci-1',
  'dev.slipway.creator-host': 'build-host',
  'dev.slipway.creator-pid': '4242',
  'dev.slipway.creator-start': '987654',
  'dev.slipway.run': 'r7',
  'dev.slipway.job': 'test',
  'dev.slipway.attempt': '2',
  'dev.slipway.pod': POD,
};

const NO_LIMITS = { cpus: null, memoryBytes: null, pids: 1024 };

function primary(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: 'primary',
    role: 'primary',
    image: 'node:20',
    env: { CI: 'true' },
    user: null,
    ...over,
  };
}

function service(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    image: 'postgres:16',
    env: { POSTGRES_PASSWORD: 'pw' },
    command: null,
    entrypoint: null,
    ready: { kind: 'tcp', port: 5432, timeoutMs: 30_000, intervalMs: 200 },
    ...over,
  };
}

function pod(over: Partial<PodSpec> = {}): PodSpec {
  return {
    id: POD,
    owner: {
      creator: 'controller:ci-1',
      creatorHost: 'build-host',
      creatorPid: 4242,
      creatorStart: '987654',
      runId: 'r7',
      job: 'test',
      attempt: 2,
    },
    workspace: '/workspace',
    network: 'isolated',
    containers: [primary()],
    services: [],
    resources: NO_LIMITS,
    caches: [],
    policy: DEFAULT_POLICY,
    pull: true,
    ...over,
  };
}

/** A step of a shell-less image, run as its own container (docker-pod.ts runStepContainer). */
interface StepInput {
  member: string;
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  user: string | null;
}

/**
 * Every body createPod (and a shell-less step) sends for a pod, keyed by what a user calls
 * the member: `primary`, `tool:<name>`, `step-image:<name>`, `service:<name>`, `step`.
 */
function bodies(spec: PodSpec, step?: StepInput): Map<string, Docker.ContainerCreateOptions> {
  const out = new Map<string, Docker.ContainerCreateOptions>();
  const [first, ...others] = spec.containers;
  out.set('primary', longLivedContainerOptions(spec, first!, undefined));
  for (const m of others)
    out.set(`${m.role}:${m.name}`, longLivedContainerOptions(spec, m, PRIMARY_ID));
  for (const s of spec.services)
    out.set(`service:${s.name}`, serviceContainerOptions(spec, s, PRIMARY_ID));
  if (step) {
    const member = spec.containers.find((c) => c.name === step.member)!;
    out.set(
      'step',
      stepContainerOptions(
        spec,
        member,
        step.argv,
        step.env,
        step.workingDir,
        step.user,
        PRIMARY_ID,
        1,
      ),
    );
  }
  return out;
}

/** The parts of a container body that make a difference to a build. */
function contract(body: Docker.ContainerCreateOptions) {
  const host = body.HostConfig ?? {};
  return {
    Image: body.Image,
    Entrypoint: body.Entrypoint,
    Cmd: body.Cmd,
    Env: Object.fromEntries(
      (body.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    ),
    User: body.User,
    WorkingDir: body.WorkingDir,
    Labels: body.Labels,
    NetworkMode: host.NetworkMode,
    Memory: host.Memory,
    MemorySwap: host.MemorySwap,
    NanoCpus: host.NanoCpus,
    PidsLimit: host.PidsLimit,
    Mounts: (host.Mounts ?? []).map((m) => `${m.Type} ${m.Source} -> ${m.Target}`).sort(),
  };
}
type Contract = ReturnType<typeof contract>;

const workspaceMount = (spec: PodSpec) =>
  `volume ${workspaceVolumeOptions(spec).Name} -> ${spec.workspace}`;
const SOCKET = 'bind /var/run/docker.sock -> /var/run/docker.sock';

interface Case {
  name: string;
  spec: PodSpec;
  step?: StepInput;
  /** Per member, the fields that matter here (absent in the body: `undefined`). */
  containers: Record<string, Partial<Contract>>;
}

const maven: ContainerSpec = {
  name: 'maven',
  role: 'tool',
  image: 'maven:3.9',
  env: { CI: 'true', MAVEN_OPTS: '-Xmx1g' },
  user: '1000:1000',
};
const noshell: ContainerSpec = {
  name: 'image-1',
  role: 'step-image',
  image: 'slipway/noshell:1',
  env: { CI: 'true' },
  user: null,
};
const caches = [
  {
    volume: 'slipway-cache-aaa',
    key: 'npm-1f2e',
    scope: 'local:/src/app',
    mountPath: '/.slipway/cache/0',
  },
  {
    volume: 'slipway-cache-bbb',
    key: 'deps-v1',
    scope: 'local:/src/app',
    mountPath: '/.slipway/cache/1',
  },
];
const everyMember = pod({
  containers: [primary(), maven, noshell],
  services: [service('db'), service('cache', { image: 'redis:7' })],
  caches,
});

const cases: Case[] = [
  {
    name: 'primary only, no limits: the job image in its own network, the workspace mounted',
    spec: pod(),
    containers: {
      primary: {
        Image: 'node:20',
        Env: { CI: 'true' },
        WorkingDir: '/workspace',
        NetworkMode: 'bridge',
        Memory: undefined,
        MemorySwap: undefined,
        NanoCpus: undefined,
        PidsLimit: 1024,
        Mounts: [workspaceMount(pod())],
        Labels: {
          ...OWNER_LABELS,
          'dev.slipway.role': 'primary',
          'dev.slipway.member': 'primary',
        },
      },
    },
  },
  {
    name: 'limits: cpu, memory (no swap beyond it) and pids on every container of the pod',
    spec: { ...everyMember, resources: { cpus: 1.5, memoryBytes: 512 * 1024 * 1024, pids: 64 } },
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: Object.fromEntries(
      ['primary', 'tool:maven', 'step-image:image-1', 'service:db', 'service:cache', 'step'].map(
        (m) => [
          m,
          { Memory: 536_870_912, MemorySwap: 536_870_912, NanoCpus: 1_500_000_000, PidsLimit: 64 },
        ],
      ),
    ),
  },
  {
    name: 'a fractional cpu limit is kept, not rounded to whole cores',
    spec: pod({ resources: { cpus: 0.25, memoryBytes: null, pids: 100 } }),
    containers: { primary: { NanoCpus: 250_000_000, Memory: undefined, PidsLimit: 100 } },
  },
  {
    name: 'tool containers: their own image and env, in the primary’s network, sharing the workspace',
    spec: pod({ containers: [primary(), maven] }),
    containers: {
      'tool:maven': {
        Image: 'maven:3.9',
        Env: { CI: 'true', MAVEN_OPTS: '-Xmx1g' },
        WorkingDir: '/workspace',
        NetworkMode: `container:${PRIMARY_ID}`,
        Mounts: [workspaceMount(pod())],
        Labels: { ...OWNER_LABELS, 'dev.slipway.role': 'tool', 'dev.slipway.member': 'maven' },
      },
    },
  },
  {
    // Readiness is waited on by the backend (waitReady); it changes nothing in the body.
    name: 'services: the image’s own entrypoint and command unless overridden, only their env',
    spec: pod({
      services: [
        service('db'),
        service('metrics', {
          image: 'prom/prometheus:2',
          env: {},
          entrypoint: ['/bin/prometheus'],
          command: ['--web.listen-address=:9090'],
          ready: { kind: 'command', command: 'true', timeoutMs: 1000, intervalMs: 100 },
        }),
      ],
    }),
    containers: {
      'service:db': {
        Image: 'postgres:16',
        Entrypoint: undefined,
        Cmd: undefined,
        Env: { POSTGRES_PASSWORD: 'pw' },
        NetworkMode: `container:${PRIMARY_ID}`,
        Mounts: [workspaceMount(pod())],
        Labels: { ...OWNER_LABELS, 'dev.slipway.role': 'service', 'dev.slipway.member': 'db' },
      },
      'service:metrics': {
        Image: 'prom/prometheus:2',
        Entrypoint: ['/bin/prometheus'],
        Cmd: ['--web.listen-address=:9090'],
        Env: {},
        NetworkMode: `container:${PRIMARY_ID}`,
      },
    },
  },
  {
    name: 'caches: mounted in the primary where the runtime restores and saves them, nowhere else',
    spec: everyMember,
    containers: {
      primary: {
        Mounts: [
          'volume slipway-cache-aaa -> /.slipway/cache/0',
          'volume slipway-cache-bbb -> /.slipway/cache/1',
          workspaceMount(everyMember),
        ],
      },
      'tool:maven': { Mounts: [workspaceMount(everyMember)] },
      'service:db': { Mounts: [workspaceMount(everyMember)] },
    },
  },
  {
    name: 'network isolated: the primary owns a bridged namespace, every other member joins it',
    spec: everyMember,
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: {
      primary: { NetworkMode: 'bridge' },
      'tool:maven': { NetworkMode: `container:${PRIMARY_ID}` },
      'step-image:image-1': { NetworkMode: `container:${PRIMARY_ID}` },
      'service:db': { NetworkMode: `container:${PRIMARY_ID}` },
      step: { NetworkMode: `container:${PRIMARY_ID}` },
    },
  },
  {
    name: 'network offline: no outside access, but services still answer on localhost',
    spec: { ...everyMember, network: 'offline' },
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: {
      primary: { NetworkMode: 'none' },
      'tool:maven': { NetworkMode: `container:${PRIMARY_ID}` },
      'service:db': { NetworkMode: `container:${PRIMARY_ID}` },
      step: { NetworkMode: `container:${PRIMARY_ID}` },
    },
  },
  {
    name: 'network none: no network at all, not even shared between the pod’s containers',
    spec: pod({ network: 'none', containers: [primary(), maven, noshell] }),
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: {
      primary: { NetworkMode: 'none' },
      'tool:maven': { NetworkMode: 'none' },
      'step-image:image-1': { NetworkMode: 'none' },
      step: { NetworkMode: 'none' },
    },
  },
  {
    name: 'network host, allowed by the run’s policy: the host’s namespace, shared by the pod',
    spec: pod({
      network: 'host',
      containers: [primary(), maven],
      services: [service('db')],
      policy: { ...DEFAULT_POLICY, allowHostNetwork: true },
    }),
    containers: {
      primary: { NetworkMode: 'host' },
      'tool:maven': { NetworkMode: `container:${PRIMARY_ID}` },
      'service:db': { NetworkMode: `container:${PRIMARY_ID}` },
    },
  },
  {
    name: 'the engine socket, allowed by the run’s policy: in the primary and tool containers only',
    spec: { ...everyMember, policy: { ...DEFAULT_POLICY, allowDockerSocket: true } },
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: {
      primary: {
        Mounts: [
          'volume slipway-cache-aaa -> /.slipway/cache/0',
          'volume slipway-cache-bbb -> /.slipway/cache/1',
          SOCKET,
          workspaceMount(everyMember),
        ],
      },
      'tool:maven': { Mounts: [SOCKET, workspaceMount(everyMember)] },
      'step-image:image-1': { Mounts: [workspaceMount(everyMember)] },
      'service:db': { Mounts: [workspaceMount(everyMember)] },
      step: { Mounts: [workspaceMount(everyMember)] },
    },
  },
  {
    // Long-lived containers only sleep; steps are exec'd with the job's user. The keepalive
    // runs as root so it can open the workspace to every user of the pod.
    name: 'user: long-lived containers keep root for the keepalive, whatever the job’s user',
    spec: pod({ containers: [primary({ user: '1000:1000' }), maven] }),
    containers: { primary: { User: '0:0' }, 'tool:maven': { User: '0:0' } },
  },
  {
    name: 'the step container of a shell-less image: the command as its own argv, the step’s user, env and directory',
    spec: pod({ containers: [primary(), { ...noshell, env: { CI: 'true', MODE: 'job' } }] }),
    step: {
      member: 'image-1',
      argv: ['/usr/local/bin/lint', '--strict', 'src'],
      env: { MODE: 'step', SLIPWAY_STEP: 's3' },
      workingDir: '/workspace/app',
      user: '1000:1000',
    },
    containers: {
      step: {
        Image: 'slipway/noshell:1',
        Entrypoint: ['/usr/local/bin/lint'],
        Cmd: ['--strict', 'src'],
        Env: { CI: 'true', MODE: 'step', SLIPWAY_STEP: 's3' },
        User: '1000:1000',
        WorkingDir: '/workspace/app',
        NetworkMode: `container:${PRIMARY_ID}`,
        Mounts: [workspaceMount(pod())],
        Labels: { ...OWNER_LABELS, 'dev.slipway.role': 'step', 'dev.slipway.member': 'image-1' },
      },
    },
  },
  {
    name: 'the step container without a user runs as the image’s own user',
    spec: pod({ containers: [primary(), noshell] }),
    step: { member: 'image-1', argv: ['/bin/tool'], env: {}, workingDir: '/workspace', user: null },
    containers: { step: { User: undefined, Entrypoint: ['/bin/tool'], Cmd: [] } },
  },
  {
    name: 'env values are passed verbatim: =, spaces, quotes and newlines survive',
    spec: pod({
      containers: [
        primary({ env: { A: 'x=y', B: 'two words', C: `it's "quoted"`, D: 'l1\nl2', E: '' } }),
      ],
    }),
    containers: {
      primary: { Env: { A: 'x=y', B: 'two words', C: `it's "quoted"`, D: 'l1\nl2', E: '' } },
    },
  },
];

describe('pod spec → Engine API bodies', () => {
  it.each(cases)('$name', ({ spec, step, containers }) => {
    const made = bodies(spec, step);
    for (const [member, expected] of Object.entries(containers)) {
      const body = made.get(member);
      expect(body, `no body for ${member}`).toBeDefined();
      const actual = contract(body!);
      const fields = Object.keys(expected) as (keyof Contract)[];
      // Mounts are compared as a set: their order makes no difference to the engine.
      const want = expected.Mounts
        ? { ...expected, Mounts: [...expected.Mounts].sort() }
        : expected;
      expect(Object.fromEntries(fields.map((f) => [f, actual[f]])), member).toEqual(want);
    }
  });

  // What must hold for every container of every pod above, whatever else differs.
  it.each(cases)('safe defaults and owner labels on every container: $name', ({ spec, step }) => {
    for (const [member, body] of bodies(spec, step)) {
      const host = body.HostConfig ?? {};
      expect(host.SecurityOpt, member).toContain('no-new-privileges:true');
      expect(host.Privileged, member).toBe(false);
      expect(host.CapAdd, member).toBeUndefined();
      expect(host.Binds, member).toBeUndefined();
      expect(host.Init, `${member} reaps its zombies`).toBe(true);
      expect(host.PidsLimit, member).toBe(spec.resources.pids);
      expect(host.Memory, member).toBe(spec.resources.memoryBytes ?? undefined);
      expect(body.Labels, member).toMatchObject(OWNER_LABELS);
      // A host directory reaches a container only as the engine socket, and only when allowed.
      const binds = (host.Mounts ?? []).filter((m) => m.Type !== 'volume');
      expect(
        binds.map((m) => m.Source),
        member,
      ).toEqual(binds.length && spec.policy.allowDockerSocket ? ['/var/run/docker.sock'] : []);
    }
  });
});

describe('pod spec → volumes', () => {
  it('the workspace volume carries the owner labels, so it goes with its pod', () => {
    expect(workspaceVolumeOptions(everyMember).Labels).toEqual({
      ...OWNER_LABELS,
      'dev.slipway.role': 'workspace',
    });
  });

  it('a cache volume carries its key, scope and creator, and no pod: it outlives the pod', () => {
    const labels = caches.map((c) => cacheVolumeOptions(everyMember, c));
    expect(labels).toEqual([
      {
        Name: 'slipway-cache-aaa',
        Labels: {
          'dev.slipway.managed': '1',
          'dev.slipway.role': 'cache',
          'dev.slipway.cache-key': 'npm-1f2e',
          'dev.slipway.cache-scope': 'local:/src/app',
          'dev.slipway.creator': 'controller:ci-1',
        },
      },
      {
        Name: 'slipway-cache-bbb',
        Labels: expect.objectContaining({ 'dev.slipway.cache-key': 'deps-v1' }) as unknown,
      },
    ]);
  });

  it('every mounted volume is one the pod creates', () => {
    const created = new Set([
      workspaceVolumeOptions(everyMember).Name,
      ...everyMember.caches.map((c) => cacheVolumeOptions(everyMember, c).Name),
    ]);
    for (const [member, body] of bodies(everyMember)) {
      for (const m of body.HostConfig?.Mounts ?? [])
        if (m.Type === 'volume')
          expect(created, `${member} mounts ${m.Source}`).toContain(m.Source);
    }
  });
});

describe('the run’s policy', () => {
  it.each([
    [
      'host network without the policy',
      pod({ network: 'host' }),
      /network: host.*allow host networking/,
    ],
    [
      'services with network none',
      pod({ network: 'none', services: [service('db')] }),
      /network: none.*use network: offline/,
    ],
  ])('refuses %s, naming the job and the fix', (_what, spec, message) => {
    expect(policyRefusal(spec)).toMatch(message);
    expect(policyRefusal(spec)).toContain('job test');
  });

  it.each([
    ['isolated', pod()],
    ['offline with services', pod({ network: 'offline', services: [service('db')] })],
    ['none without services', pod({ network: 'none' })],
    [
      'host when allowed',
      pod({ network: 'host', policy: { ...DEFAULT_POLICY, allowHostNetwork: true } }),
    ],
  ])('lets %s through', (_what, spec) => {
    expect(policyRefusal(spec)).toBeUndefined();
  });
});
