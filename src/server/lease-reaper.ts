/**
 * Leases: an agent's claim on an attempt lasts `leaseMs` (the `lease_until` column, set at
 * the claim) and is renewed while the agent is connected. An attempt whose lease ran out
 * (its agent went away and did not come back) ends `infra_error` with the reason
 * `agent_lost`, an infrastructure outcome: `retry.on: [infra]` runs it again, on whichever
 * agent is free. Time is the controller's clock (`ControllerOptions.now`), never an agent's.
 *
 * A connected agent counts as alive: the embedded agent's link is in memory, and remote
 * agents (a later issue) will renew through their heartbeats. Attempts kept for adoption
 * after a restart get a fresh lease from `recover`, so their agent has a whole lease to
 * connect and adopt them.
 */
import { formatMs } from '../runtime/outcome.ts';
import { finishAttempt } from './builds/dag.ts';
import type { ControllerCore } from './controller-core.ts';
import { kick } from './dispatch/dispatcher.ts';

/**
 * One round: renews the leases of attempts that connected agents run, then ends every
 * running attempt whose lease ran out. Returns the ids of the attempts it ended.
 */
export async function reapLeases(core: ControllerCore): Promise<number[]> {
  const now = core.now();
  const alive = [...core.agents.values()].flatMap((agent) => [...agent.running]);
  await core.store.builds.renewLeases(alive, now + core.leaseMs);
  const ended: number[] = [];
  for (const attempt of await core.store.builds.expiredLeases(now)) {
    const who = attempt.agent ? `the agent ${attempt.agent}` : 'its agent';
    const reason = `agent_lost: ${who} did not renew its lease for ${formatMs(core.leaseMs)} (it disconnected or stopped answering)`;
    // Still connected but no longer running it (a lost message): it must not go on.
    const agent = attempt.agent ? core.agents.get(attempt.agent) : undefined;
    if (agent) {
      agent.running.delete(attempt.id);
      agent.link.send({ type: 'cancel', attemptId: attempt.id, reason });
    }
    await finishAttempt(core, attempt.id, 'infra_error', reason);
    ended.push(attempt.id);
  }
  if (ended.length > 0) {
    core.log(`slipway: ${ended.length} attempt(s) lost their agent: ${ended.join(', ')}`);
    kick(core);
  }
  return ended;
}

/** Runs `reapLeases` every third of a lease until `stop` is called; rounds never overlap. */
export function startLeaseReaper(core: ControllerCore): { stop(): void } {
  let round: Promise<unknown> | undefined;
  const timer = setInterval(
    () => {
      if (round) return;
      round = reapLeases(core)
        .catch((error: unknown) => core.reportError('a lease round', error))
        .finally(() => (round = undefined));
    },
    Math.max(100, Math.floor(core.leaseMs / 3)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
