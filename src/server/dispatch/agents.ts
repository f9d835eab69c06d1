/**
 * The agents connected now: a link each, with the attempts it runs. An agent that
 * connects is handed the attempts it ran before a restart (`recovery.ts`), then a
 * dispatch round fills its free executors.
 */
import type { AgentLink } from '../../protocol/messages.ts';
import type { ConnectedAgent, ControllerCore } from '../controller-core.ts';
import { handOver } from '../recovery.ts';
import { kick } from './dispatcher.ts';

/** A connected agent as the API shows it. */
export interface AgentView {
  id: string;
  name: string;
  labels: string[];
  executors: number;
  backend: string;
  running: number[];
  connectedAt: number;
  lastSeen: number;
}

/** An agent with the build and job run of each attempt it runs. */
export type AgentDetail = AgentView & {
  runs: {
    attemptId: number;
    buildId: number;
    job: string;
    buildNumber: number;
    jobRun: string;
  }[];
};

export function connect(core: ControllerCore, link: AgentLink): void {
  const now = core.now();
  const agent: ConnectedAgent = { link, running: new Set(), connectedAt: now, lastSeen: now };
  core.agents.set(link.info.id, agent);
  void handOver(core, agent)
    .catch((error: unknown) => core.reportError(`handing attempts over to ${link.info.id}`, error))
    .finally(() => kick(core));
}

export function disconnect(core: ControllerCore, agentId: string): void {
  core.agents.delete(agentId);
}

export function listAgents(core: ControllerCore): AgentView[] {
  return [...core.agents.values()].map((a) => ({
    ...a.link.info,
    running: [...a.running],
    connectedAt: a.connectedAt,
    lastSeen: a.lastSeen,
  }));
}

/** What each connected agent runs, with the build and job run of each attempt. */
export async function agentsDetail(core: ControllerCore): Promise<AgentDetail[]> {
  const out: AgentDetail[] = [];
  for (const agent of listAgents(core)) {
    const runs: AgentDetail['runs'] = [];
    for (const attemptId of agent.running) {
      const attempt = await core.store.builds.attempt(attemptId);
      const run = attempt ? await core.store.builds.jobRun(attempt.job_run_id) : undefined;
      const build = attempt ? await core.store.builds.build(attempt.build_id) : undefined;
      if (attempt && run && build)
        runs.push({
          attemptId,
          buildId: attempt.build_id,
          job: build.job,
          buildNumber: build.number,
          jobRun: run.name,
        });
    }
    out.push({ ...agent, runs });
  }
  return out;
}
