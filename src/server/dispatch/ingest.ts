/**
 * What agents report, stored: output (the hot path: capped per step, durably, with a
 * marker), set-up progress, steps starting and ending, attempts ending. While the store
 * cannot be written, output lost is recorded and other messages wait in order
 * (`write-backlog.ts`).
 */
import type { AgentMessage } from '../../protocol/messages.ts';
import { isStoreFailure } from '../../store/health.ts';
import type { AttemptRow } from '../../store/ports.ts';
import { statusOf, unreachable } from '../../domain/status.ts';
import { finishAttempt } from '../builds/dag.ts';
import type { ControllerCore } from '../controller-core.ts';
import { kick } from './dispatcher.ts';

const TRUNCATION_MARKER = (cap: number): Buffer =>
  Buffer.from(
    `\n[slipway: the log of this step reached its cap of ${Math.round(cap / 1048576)} MiB; further output is dropped, the step goes on]\n`,
  );

/** Delivers an agent message; resolves when it is stored (or held for the store). */
export async function receive(
  core: ControllerCore,
  agentId: string,
  message: AgentMessage,
): Promise<void> {
  const agent = core.agents.get(agentId);
  if (agent) agent.lastSeen = core.now();
  if (message.type === 'log') {
    // The hot path: output does not read the attempt back for every chunk.
    let buildId = core.attemptBuilds.get(message.attemptId);
    if (buildId === undefined) {
      buildId = (await core.store.builds.attempt(message.attemptId))?.build_id;
      if (buildId === undefined) return;
      core.attemptBuilds.set(message.attemptId, buildId);
    }
    await storeLog(core, { id: message.attemptId, build_id: buildId }, message).catch(
      (error: unknown) => {
        core.reportError(`storing output of attempt ${message.attemptId}`, error);
        throw error;
      },
    );
    return;
  }
  // An earlier message of this attempt waits for the store: this one waits behind it.
  if (core.backlog.queueBehind(agentId, message)) return;
  try {
    await apply(core, agentId, message);
  } catch (error) {
    if (!isStoreFailure(error)) {
      core.reportError(`storing ${message.type} of attempt ${message.attemptId}`, error);
      throw error;
    }
    // The store cannot take it now (a full disk): kept in order, stored when it recovers.
    core.backlog.hold(agentId, message);
  }
}

/** Stores one agent message other than output. */
export async function apply(
  core: ControllerCore,
  agentId: string,
  message: Exclude<AgentMessage, { type: 'log' }>,
): Promise<void> {
  const agent = core.agents.get(agentId);
  const attempt = await core.store.builds.attempt(message.attemptId);
  if (!attempt) return;
  const builds = core.store.builds;
  switch (message.type) {
    case 'attempt.started':
      return;
    case 'progress': {
      // After a restart the set-up log continues where the stored one ends.
      const stored = core.setupSeq.has(attempt.id)
        ? undefined
        : await core.store.logs.progress(attempt.id, -1);
      const position = core.setupSeq.get(attempt.id) ?? {
        seq: stored?.nextSeq ?? 0,
        offset: stored?.size ?? 0,
      };
      core.setupSeq.set(attempt.id, position);
      const data = Buffer.from(`${message.message}\n`);
      await core.store.logs.append({
        buildId: attempt.build_id,
        attemptId: attempt.id,
        step: -1,
        seq: position.seq++,
        offset: position.offset,
        stream: 'stdout',
        data,
      });
      position.offset += data.length;
      core.events.emit('log', attempt.build_id, -1);
      return;
    }
    case 'step.started':
      await builds.putStep({
        attempt_id: attempt.id,
        idx: message.step,
        name: message.name,
        status: 'running',
        outcome: null,
        reason: '',
        exit_code: null,
        log_bytes: 0,
        truncated: 0,
        started_at: message.time,
        finished_at: null,
      });
      core.events.emit('build', attempt.build_id);
      return;
    case 'step.finished':
      await builds.putStep({
        attempt_id: attempt.id,
        idx: message.step,
        name: message.name,
        status: statusOf(message.outcome),
        outcome: message.outcome,
        reason: message.reason,
        exit_code: message.exitCode,
        log_bytes: 0,
        truncated: 0,
        started_at: null,
        finished_at: message.time,
      });
      await builds.updateAttempt(attempt.id, { lease_until: core.now() + core.leaseMs });
      core.events.emit('build', attempt.build_id);
      return;
    case 'attempt.finished':
      if (agent) agent.running.delete(attempt.id);
      core.setupSeq.delete(attempt.id);
      core.attemptBuilds.delete(attempt.id);
      await finishAttempt(core, attempt.id, message.outcome, message.reason);
      kick(core);
      return;
    default:
      return unreachable(message);
  }
}

async function storeLog(
  core: ControllerCore,
  attempt: Pick<AttemptRow, 'id' | 'build_id'>,
  message: Extract<AgentMessage, { type: 'log' }>,
): Promise<void> {
  const key = `${attempt.id}:${message.step}`;
  const cap = core.options.logCapBytes;
  let stored = core.logBytes.get(key);
  if (stored === undefined) {
    // First output of this step in this process: count what earlier processes stored.
    const before = await core.store.logs.stored(attempt.id, message.step);
    stored = before.truncated ? cap : before.bytes;
    core.logBytes.set(key, stored);
  }
  if (stored >= cap) return;
  let data = message.data;
  let truncated = false;
  if (stored + data.length > cap) {
    data = Buffer.concat([data.subarray(0, cap - stored), TRUNCATION_MARKER(cap)]);
    truncated = true;
  }
  // Output lost while the store failed is marked before anything after it is stored.
  if (
    core.backlog.hasLost(attempt.id, message.step) &&
    !(await core.backlog.mark(attempt.id, message.step))
  ) {
    core.backlog.lose(attempt.build_id, message, undefined);
    return;
  }
  let id: number | undefined;
  try {
    id = await core.store.logs.append({
      buildId: attempt.build_id,
      attemptId: attempt.id,
      step: message.step,
      seq: message.seq,
      offset: message.offset,
      stream: message.stream,
      data,
      ...(message.raw ? { raw: message.raw } : {}),
    });
  } catch (error) {
    if (!isStoreFailure(error)) throw error;
    core.backlog.lose(attempt.build_id, message, error);
    return;
  }
  if (id === undefined) return;
  core.logBytes.set(key, truncated ? cap : stored + data.length);
  if (truncated) await core.store.logs.markTruncated(attempt.id, message.step);
  core.events.emit('log', attempt.build_id, message.step);
}
