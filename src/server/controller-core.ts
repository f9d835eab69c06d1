/**
 * What the controller's verbs share: the store, the options, the connected agents, the
 * per-build locks and the small in-memory caches. The verbs (`builds/*`, `dispatch/*`,
 * `recovery.ts`, `lease-reaper.ts`) are functions of this core; `controller.ts` wires
 * them into the `Controller` the rest of the server uses. Memory here only speeds things
 * up or wakes workers: the store is the truth.
 */
import { EventEmitter } from 'node:events';
import type { BuildCredentials } from '../credentials/build-secrets.ts';
import type { AgentLink, AgentMessage } from '../protocol/messages.ts';
import { isStoreFailure } from '../store/health.ts';
import type { Store } from '../store/ports.ts';
import { WriteBacklog } from './write-backlog.ts';

export interface ControllerOptions {
  store: Store;
  /** Where the controller keeps its git mirrors. */
  gitCacheDir: string;
  /** Per-step log cap in bytes; output beyond it is dropped after a marker. */
  logCapBytes: number;
  graceMs: number;
  /** Upper bound of any job's timeout (limits.max_build_duration). */
  maxJobMs?: number;
  /** Secret values by name, given to the jobs that list them (`setSecrets` replaces them). */
  secrets: Readonly<Record<string, string>>;
  /** Stored credentials: checked against their scopes at trigger, given at dispatch. */
  credentials?: BuildCredentials;
  now?: () => number;
  /** Where failures that no caller can handle are told, with their context (the server's log). */
  log?: (line: string) => void;
  /**
   * This controller's id (stable, in its data directory): part of every pod and cache
   * name, so controllers sharing one engine never take each other's.
   */
  id?: string;
  /**
   * How long an agent's claim on an attempt lasts unless renewed (default 60 s). The lease
   * reaper ends an attempt whose lease ran out as an infrastructure error (`agent_lost`).
   */
  leaseMs?: number;
}

/** An agent connected now, with the attempts it runs. */
export interface ConnectedAgent {
  link: AgentLink;
  running: Set<number>;
  connectedAt: number;
  lastSeen: number;
}

export const DEFAULT_LEASE_MS = 60_000;

export class ControllerCore {
  /** `build` (id) on any change of a build; `log` (build id, step) on new output; `queue`. */
  readonly events = new EventEmitter();
  readonly agents = new Map<string, ConnectedAgent>();
  /** Bytes stored per step (`attempt:step`), read from the store once: the cap is durable. */
  readonly logBytes = new Map<string, number>();
  /** Where each attempt's set-up log (step -1) continues. */
  readonly setupSeq = new Map<number, { seq: number; offset: number }>();
  /** The build of each attempt that is sending output. */
  readonly attemptBuilds = new Map<number, number>();
  /** Attempts waiting for their agent to reconnect and adopt them, by agent id. */
  readonly adoptions = new Map<string, number[]>();
  /** Output lost and messages held while the store could not be written. */
  readonly backlog: WriteBacklog;
  readonly now: () => number;
  readonly leaseMs: number;
  secrets: Readonly<Record<string, string>>;
  draining = false;
  /** The dispatch round running now, and whether another was asked for meanwhile. */
  dispatching: Promise<void> | undefined;
  dispatchAgain = false;
  private readonly locks = new Map<number, Promise<unknown>>();

  constructor(
    readonly options: ControllerOptions,
    /** Stores one agent message other than output (`dispatch/ingest.ts`), for the backlog. */
    apply: (agentId: string, message: Exclude<AgentMessage, { type: 'log' }>) => Promise<void>,
  ) {
    this.now = options.now ?? Date.now;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.secrets = { ...options.secrets };
    this.events.setMaxListeners(0);
    this.backlog = new WriteBacklog(
      options.store,
      apply,
      (buildId, step) => this.events.emit('log', buildId, step),
      (context, error) => this.reportError(context, error),
    );
  }

  get store(): Store {
    return this.options.store;
  }

  /** Runs `fn` after every earlier move of the same build: one lock per build. */
  withBuild<T>(buildId: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(buildId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.locks.set(buildId, next);
    // The caller handles next's failure; this clean-up must not leave a rejection unhandled.
    const release = (): void => {
      if (this.locks.get(buildId) === next) this.locks.delete(buildId);
    };
    next.then(release, release);
    return next;
  }

  /**
   * A failure no caller can handle (a dispatch round, a hand-over): told with its context,
   * never thrown into the void. Store failures are told once, when the store's condition
   * changes, not once per refused write.
   */
  reportError(context: string, error: unknown): void {
    if (isStoreFailure(error)) return;
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.log(`slipway: ${context} failed: ${text}`);
  }

  log(line: string): void {
    (this.options.log ?? console.error)(line);
  }

  /** Why no new attempt may start now (the store's condition), or null. */
  dispatchPause(): string | null {
    const condition = this.store.health.condition();
    return condition.state === 'ok' ? null : `dispatch is paused: ${condition.reason}`;
  }
}
