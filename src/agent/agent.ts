/**
 * The agent loop: accept assignments from the controller, run each attempt with the
 * runtime on a backend, ship its steps and output back in order, and stop an attempt
 * when told. The embedded agent talks to the controller through an in-memory link;
 * a remote agent will use the same messages over the network.
 */
import { join } from 'node:path';
import { LABELS, type Backend, type Pod, type PodPolicy } from '../backends/backend.ts';
import { podId } from '../runtime/pod-plan.ts';
import type {
  AgentInfo,
  AgentMessage,
  Assignment,
  ControllerPort,
  ResumeInfo,
} from '../protocol/messages.ts';
import type { RunEvent } from '../runtime/events.ts';
import { runJobAttempt } from '../runtime/job-runner.ts';
import { currentOwner } from '../runtime/owner.ts';
import { localSource } from '../runtime/workspace-source.ts';
import { ensureCommit } from '../vcs/git.ts';
import { CommitTrees, type Tree } from './commit-trees.ts';

export interface AgentOptions {
  info: AgentInfo;
  backend: Backend;
  port: ControllerPort;
  /** Where checkouts are made (one temporary directory per attempt). */
  workDir: string;
  /** Where the agent keeps its git mirrors. */
  gitCacheDir: string;
  policy: PodPolicy;
  /** Owner label of everything this agent creates: `controller:<id>` for the embedded one. */
  creator: string;
  pull: boolean;
}

/** Largest log message the agent sends; output is coalesced up to this size. */
const MAX_LOG_MESSAGE = 256 * 1024;

export class Agent {
  private readonly running = new Map<number, { abort: AbortController; done: Promise<void> }>();
  /** Pods being removed after their attempt was reported finished (see `onTeardown`). */
  private readonly teardowns = new Set<Promise<void>>();

  private readonly trees: CommitTrees;

  constructor(private readonly options: AgentOptions) {
    this.trees = new CommitTrees(join(options.workDir, 'commits'));
  }

  start(): void {
    this.options.port.connect({
      info: this.options.info,
      send: (message) => {
        if (message.type === 'assign') this.accept(message.assignment);
        else if (message.type === 'adopt') this.accept(message.assignment, message.resume);
        else this.running.get(message.attemptId)?.abort.abort(message.reason);
      },
    });
  }

  /** Attempts running now. */
  get busy(): number {
    return this.running.size;
  }

  /** Stops every running attempt and waits for their pods to be removed. */
  async stopAll(reason: string): Promise<void> {
    for (const { abort } of this.running.values()) abort.abort(reason);
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.tornDown();
  }

  /** Waits for running attempts to finish on their own, and for their pods to be removed. */
  async drain(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.tornDown();
  }

  /** Resolves when no pod of a finished attempt is still being removed. */
  async tornDown(): Promise<void> {
    while (this.teardowns.size > 0) await Promise.all([...this.teardowns]);
  }

  disconnect(): void {
    this.options.port.disconnect(this.options.info.id);
  }

  private accept(assignment: Assignment, resume?: ResumeInfo): void {
    const abort = new AbortController();
    const done = this.run(assignment, abort.signal, resume)
      .catch(() => undefined)
      .finally(() => this.running.delete(assignment.attemptId));
    this.running.set(assignment.attemptId, { abort, done });
  }

  private async run(
    assignment: Assignment,
    signal: AbortSignal,
    resume?: ResumeInfo,
  ): Promise<void> {
    const { attemptId } = assignment;
    const shipper = new Shipper((message) =>
      this.options.port.receive(this.options.info.id, message),
    );
    if (!resume) shipper.push({ type: 'attempt.started', attemptId });
    // The commit's files are made while the pod starts (they are first needed by the
    // checkout step, or by hashFiles() in a cache key), not before: the two overlap.
    let tree: Promise<Tree> | undefined;
    const acquireTree = (): Promise<Tree> =>
      (tree ??= this.trees.acquire(assignment.repo.sha, () =>
        ensureCommit(
          this.options.gitCacheDir,
          assignment.repo.url,
          assignment.repo.sha,
          assignment.repo.ref,
        ),
      ));
    try {
      // An adopted attempt said this already, before the restart.
      if (!resume)
        shipper.push({
          type: 'progress',
          attemptId,
          message: `checking out ${assignment.repo.sha.slice(0, 12)} of ${assignment.repo.url}`,
        });
      if (assignment.job.steps.some((step) => step.kind === 'checkout'))
        // Handled where it is used (the checkout step fails with its error); this only
        // keeps an early failure from counting as unhandled.
        acquireTree().catch(() => undefined);
      const dir = (): Promise<string> => acquireTree().then((t) => t.dir);
      const offsets = new Map<number, { seq: number; offset: number }>();
      let adopted: Pod | undefined;
      if (resume) {
        const id = podId(assignment.runId, assignment.job.id, assignment.attempt);
        // Only this agent's creator's pod: another controller on the engine may have one
        // of the same name pattern, and it is not ours to take or remove.
        const mine = { [LABELS.creator]: this.options.creator };
        adopted = await this.options.backend.adopt(id, mine);
        if (!adopted) {
          // Whatever is left of it (a workspace volume) goes: zero orphans.
          const backend = this.options.backend;
          for (const ref of await backend.list({ [LABELS.pod]: id, ...mine }).catch(() => []))
            await backend.remove(ref).catch(() => undefined);
          shipper.push({
            type: 'attempt.finished',
            attemptId,
            outcome: 'infra_error',
            reason:
              'controller_lost: the controller stopped while this attempt ran, and its pod is gone',
          });
          return;
        }
        offsets.set(resume.step, { seq: resume.seq, offset: resume.offset });
        shipper.push({
          type: 'progress',
          attemptId,
          message: `the controller restarted: adopted the running pod, continuing at step ${resume.step + 1}`,
        });
      }
      const reporter = (event: RunEvent): void => {
        switch (event.type) {
          case 'job.progress':
            shipper.push({ type: 'progress', attemptId, message: event.message });
            return;
          case 'step.started':
            if (resume?.mode === 'follow' && event.step === resume.step) return;
            shipper.push({
              type: 'step.started',
              attemptId,
              step: event.step,
              name: event.name,
              time: event.time,
            });
            return;
          case 'output': {
            const position = offsets.get(event.step) ?? { seq: 0, offset: 0 };
            offsets.set(event.step, position);
            shipper.pushLog(attemptId, event.step, event.stream, event.data, position, event.raw);
            return;
          }
          case 'step.finished':
            shipper.push({
              type: 'step.finished',
              attemptId,
              step: event.step,
              name: event.name,
              outcome: event.outcome,
              reason: event.reason,
              exitCode: event.exitCode,
              time: event.time,
            });
            return;
          default:
            return;
        }
      };
      const result = await runJobAttempt(assignment.job, {
        backend: this.options.backend,
        runId: assignment.runId,
        attempt: assignment.attempt,
        owner: currentOwner(this.options.creator),
        policy: this.options.policy,
        pull: this.options.pull,
        signal,
        reporter,
        secrets: assignment.secrets,
        ...(assignment.masks ? { masks: assignment.masks } : {}),
        ...(assignment.untrusted !== undefined ? { untrusted: assignment.untrusted } : {}),
        source: localSource(dir, {
          listing: 'all',
          description: `commit ${assignment.repo.sha.slice(0, 12)} of ${assignment.repo.url}`,
        }),
        cacheScope: assignment.cacheScope,
        graceMs: assignment.graceMs,
        context: assignment.context,
        durable: true,
        // The deadline is absolute (stored by the controller): an adopted attempt keeps it.
        deadline: assignment.deadline,
        // The attempt is reported as soon as it ended; its pod is removed meanwhile, and
        // drain() and stopAll() wait for that.
        onTeardown: (done) => {
          const tracked = done.catch(() => undefined).finally(() => this.teardowns.delete(tracked));
          this.teardowns.add(tracked);
        },
        ...(resume && adopted
          ? {
              resume: {
                pod: adopted,
                step: resume.step,
                mode: resume.mode,
                offsets: resume.offsets,
                previousFailed: resume.previousFailed,
                succeededBefore: resume.succeededBefore,
              },
            }
          : {}),
      });
      shipper.push({
        type: 'attempt.finished',
        attemptId,
        outcome: result.outcome,
        reason: result.reason,
      });
    } catch (error) {
      shipper.push({
        type: 'attempt.finished',
        attemptId,
        outcome: 'infra_error',
        reason: `the agent could not run the attempt: ${(error as Error).message}`,
      });
    } finally {
      await shipper.flushed();
      (await tree?.catch(() => undefined))?.release();
    }
  }
}

/**
 * Delivers an attempt's messages in order, one at a time; consecutive output of one step
 * and stream is coalesced while the previous message is being stored, so a fast step
 * makes few large chunks instead of many tiny ones.
 */
class Shipper {
  private readonly queue: AgentMessage[] = [];
  private sending: Promise<void> | undefined;

  constructor(private readonly deliver: (message: AgentMessage) => Promise<void>) {}

  push(message: AgentMessage): void {
    this.queue.push(message);
    this.pump();
  }

  pushLog(
    attemptId: number,
    step: number,
    stream: 'stdout' | 'stderr',
    data: Buffer,
    position: { seq: number; offset: number },
    raw?: { stdout: number; stderr: number },
  ): void {
    // Only the tail of the queue is merged into: output keeps its order across streams.
    const last = this.queue.at(-1);
    if (
      last?.type === 'log' &&
      last.step === step &&
      last.stream === stream &&
      last.data.length + data.length <= MAX_LOG_MESSAGE
    ) {
      last.data = Buffer.concat([last.data, data]);
      if (raw) last.raw = raw;
      position.offset += data.length;
      return;
    }
    this.push({
      type: 'log',
      attemptId,
      step,
      seq: position.seq,
      offset: position.offset,
      stream,
      data,
      ...(raw ? { raw } : {}),
    });
    position.seq += 1;
    position.offset += data.length;
  }

  async flushed(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private pump(): void {
    if (this.sending) return;
    this.sending = (async () => {
      for (let message = this.queue.shift(); message; message = this.queue.shift()) {
        try {
          await this.deliver(message);
        } catch {
          // The controller could not store it; nothing better to do than go on in order.
        }
      }
    })().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }
}
