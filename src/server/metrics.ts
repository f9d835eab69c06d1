/**
 * The controller's Prometheus metrics. prom-client is loaded when it is first needed (the
 * first finished build, or the first scrape), not when the controller starts: an idle
 * controller does not hold it.
 */
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import type { BuildRow } from '../store/builds.ts';
import { FINISHED } from '../store/builds.ts';
import type { Controller } from './controller.ts';

export interface Metrics {
  /** The exposition text and its content type, for `GET /metrics`. */
  scrape(): Promise<{ contentType: string; text: string }>;
}

interface Loaded {
  registry: Registry;
  observe(build: BuildRow): void;
}

export function createMetrics(controller: Controller): Metrics {
  let loading: Promise<Loaded> | undefined;
  const load = (): Promise<Loaded> => (loading ??= import('prom-client').then(registryOf));

  function registryOf({ Counter, Gauge, Histogram, Registry }: typeof PromClient): Loaded {
    const registry = new Registry();
    const store = controller.store;
    new Gauge({
      name: 'slipway_queue_depth',
      help: 'Job attempts waiting in the queue.',
      registers: [registry],
      async collect() {
        this.set((await store.builds.countByStatus()).queued ?? 0);
      },
    });
    new Gauge({
      name: 'slipway_attempts_running',
      help: 'Job attempts running now.',
      registers: [registry],
      async collect() {
        this.set((await store.builds.countByStatus()).running ?? 0);
      },
    });
    new Gauge({
      name: 'slipway_agents_connected',
      help: 'Agents connected to this controller.',
      registers: [registry],
      collect() {
        this.set(controller.listAgents().length);
      },
    });
    new Gauge({
      name: 'slipway_log_bytes',
      help: 'Bytes of build output stored.',
      registers: [registry],
      async collect() {
        this.set(await store.logs.totalBytes());
      },
    });
    const durations = new Histogram({
      name: 'slipway_build_duration_seconds',
      help: 'Build durations by outcome.',
      labelNames: ['status'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    });
    const finished = new Counter({
      name: 'slipway_builds_finished_total',
      help: 'Builds finished, by status.',
      labelNames: ['status'],
      registers: [registry],
    });
    return {
      registry,
      observe(build) {
        finished.inc({ status: build.status });
        const start = Number(build.started_at ?? build.created_at);
        durations.observe(
          { status: build.status },
          (Number(build.finished_at ?? start) - start) / 1000,
        );
      },
    };
  }

  const seen = new Set<number>();
  controller.events.on('build', (id: number) => {
    void controller.store.builds.build(id).then((build) => {
      if (!build || !FINISHED.has(build.status) || seen.has(id)) return;
      seen.add(id);
      if (seen.size > 10_000) seen.clear();
      // Observations keep their order: each waits on the same load.
      void load().then((loaded) => loaded.observe(build), bestEffort);
    }, bestEffort);
  });
  return {
    async scrape() {
      const { registry } = await load();
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}

/** Metrics are best effort: a failing store read is told by /readyz, never by a crash. */
function bestEffort(): void {}
