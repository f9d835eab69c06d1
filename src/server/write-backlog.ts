/**
 * What the controller could not store while the store failed (a full disk): output that
 * was lost, marked in its step's log as soon as writing works again, and every other agent
 * message, kept in memory in the order it came and stored when the store recovers. So a
 * full disk costs the output written meanwhile (visibly) but never a step's or an attempt's
 * ending.
 */
import type { AgentMessage } from '../protocol/messages.ts';
import { storageFailure } from '../store/health.ts';
import type { Store } from '../store/open.ts';

type LogMessage = Extract<AgentMessage, { type: 'log' }>;
type OtherMessage = Exclude<AgentMessage, { type: 'log' }>;

interface LostOutput {
  buildId: number;
  attemptId: number;
  step: number;
  /** Seq and offset of the first chunk lost: the marker takes its place. */
  seq: number;
  offset: number;
  stream: 'stdout' | 'stderr';
  bytes: number;
  why: string;
}

/** The line put where output was lost. */
export function lostOutputMarker(bytes: number, why: string): Buffer {
  const size = bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
  return Buffer.from(`\n[slipway: output was lost here (${size}): ${why}]\n`);
}

export class WriteBacklog {
  private readonly lost = new Map<string, LostOutput>();
  private readonly deferred = new Map<number, { agentId: string; message: OtherMessage }[]>();
  private flushing: Promise<boolean> | undefined;

  constructor(
    private readonly store: Store,
    /** Stores one (non-log) agent message; throws when the store fails. */
    private readonly apply: (agentId: string, message: OtherMessage) => Promise<void>,
    /** Told when a marker was stored, like any new output. */
    private readonly stored: (buildId: number, step: number) => void,
    /** Told of a failure that is not the store's (it is dropped, so nothing waits forever). */
    private readonly report: (context: string, error: unknown) => void,
  ) {}

  /** Messages and lost outputs waiting for the store. */
  get size(): number {
    return this.lost.size + [...this.deferred.values()].reduce((n, q) => n + q.length, 0);
  }

  /**
   * Queues the message behind earlier ones of its attempt that wait for the store; false
   * when none wait (the caller stores it now).
   */
  queueBehind(agentId: string, message: OtherMessage): boolean {
    const queue = this.deferred.get(message.attemptId);
    if (!queue) return false;
    queue.push({ agentId, message });
    return true;
  }

  /** Keeps a message the store refused; it is stored when the store recovers. */
  hold(agentId: string, message: OtherMessage): void {
    const queue = this.deferred.get(message.attemptId) ?? [];
    queue.push({ agentId, message });
    this.deferred.set(message.attemptId, queue);
  }

  /** Records output that could not be stored (the marker goes where it started). */
  lose(buildId: number, message: LogMessage, error: unknown): void {
    const key = `${message.attemptId}:${message.step}`;
    const earlier = this.lost.get(key);
    if (earlier) {
      earlier.bytes += message.data.length;
      return;
    }
    this.lost.set(key, {
      buildId,
      attemptId: message.attemptId,
      step: message.step,
      seq: message.seq,
      offset: message.offset,
      stream: message.stream,
      bytes: message.data.length,
      why:
        storageFailure(error)?.kind === 'full'
          ? 'the disk holding the store is full'
          : 'the store could not be written',
    });
  }

  /** True when output of this step was lost and its marker is not stored yet. */
  hasLost(attemptId: number, step: number): boolean {
    return this.lost.has(`${attemptId}:${step}`);
  }

  /**
   * Stores the marker of a step's lost output, if it has one. True when nothing lost is
   * left unmarked; false when the store failed again (the marker stays pending).
   */
  async mark(attemptId: number, step: number): Promise<boolean> {
    const key = `${attemptId}:${step}`;
    const lost = this.lost.get(key);
    if (!lost) return true;
    try {
      const id = await this.store.logs.append({
        buildId: lost.buildId,
        attemptId,
        step,
        seq: lost.seq,
        offset: lost.offset,
        stream: lost.stream,
        data: lostOutputMarker(lost.bytes, lost.why),
      });
      if (this.lost.get(key) === lost) this.lost.delete(key);
      if (id !== undefined) this.stored(lost.buildId, step);
      return true;
    } catch (error) {
      if (storageFailure(error)) return false;
      this.lost.delete(key);
      this.report(`storing the marker of lost output of attempt ${attemptId} step ${step}`, error);
      return true;
    }
  }

  /**
   * Once the store takes writes again: every pending marker, then every held message in
   * order. Resolves false when the store failed again before all was stored.
   */
  flush(): Promise<boolean> {
    this.flushing ??= this.runFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async runFlush(): Promise<boolean> {
    for (const lost of [...this.lost.values()])
      if (!(await this.mark(lost.attemptId, lost.step))) return false;
    for (const [attemptId, queue] of [...this.deferred]) {
      // New messages of this attempt queue up behind these while they are stored.
      while (queue.length > 0) {
        const { agentId, message } = queue[0]!;
        try {
          await this.apply(agentId, message);
        } catch (error) {
          if (storageFailure(error)) return false;
          this.report(`storing ${message.type} of attempt ${attemptId}`, error);
        }
        queue.shift();
      }
      this.deferred.delete(attemptId);
    }
    return true;
  }
}
