/**
 * Whether the store can be written and trusted, watched all the time. Every statement that
 * fails is classified here (a full disk, an I/O error, a damaged file); the free space
 * under the store is compared with `limits.min_free_disk`; and while the store cannot be
 * written a probe tries again every second, so the controller pauses and resumes by itself.
 * The controller reads `condition()` to pause dispatch, `/readyz` to answer.
 */
import { statfs } from 'node:fs/promises';

/** What the store can do now, worst first: damaged, unwritable, low on space, fine. */
export type StoreCondition =
  | { state: 'ok' }
  /** Writes work, but the free space is under the threshold: no new attempts start. */
  | { state: 'low_disk'; reason: string }
  /** Writes fail (full disk, I/O error, read-only file): dispatch pauses until a probe succeeds. */
  | { state: 'unwritable'; reason: string }
  /** A page of the file is damaged: only a restore (and a restart) helps. */
  | { state: 'corrupt'; reason: string };

/** `limits.min_free_disk`: a size, a share of the file system, or the smaller of both. */
export interface MinFreeDisk {
  bytes: number | null;
  percent: number | null;
}

export interface StoreHealthOptions {
  /** The store file (its directory's file system is the one watched). */
  file: string;
  minFree: MinFreeDisk;
  /** A small write through the store's own connection; throws when writing fails. */
  probeWrite(): void;
  /** Reads the first and last pages of every table on a fresh connection; throws when damaged. */
  probePages(): void;
}

type Failure = { kind: 'full' | 'io' | 'corrupt'; reason: string };

/** How often free space is checked, and how often a failed store is probed. */
const CHECK_MS = 5000;
const RETRY_MS = 1000;
/** The page probe runs at most this often (it opens a connection). */
const PAGES_EVERY_MS = 30_000;
/** ...and at most this often when asked (`/readyz`). */
const PAGES_SOON_MS = 2000;
/** Coming back from a full disk needs at least this much free, whatever the threshold. */
const RECOVERY_FLOOR = 1024 * 1024;

/**
 * The storage failure an error stands for, or undefined for any other error (a
 * constraint, a bug). SQLite's codes: FULL, IOERR*, READONLY*, CANTOPEN, CORRUPT*, NOTADB.
 */
export function storageFailure(error: unknown): Failure | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const message = (error as Error).message;
  if (code === 'SQLITE_FULL')
    return { kind: 'full', reason: `the disk holding the store is full (${code})` };
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
    return { kind: 'corrupt', reason: `the store file is damaged (${code}: ${message})` };
  if (
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code === 'SQLITE_CANTOPEN'
  )
    return { kind: 'io', reason: `the store cannot be written (${code}: ${message})` };
  return undefined;
}

/** True when the error is the store failing (disk, file), not a query's own problem. */
export function isStoreFailure(error: unknown): boolean {
  return storageFailure(error) !== undefined;
}

/** Free space under `dir` and the size of its file system, in bytes. */
export async function diskSpace(dir: string): Promise<{ free: number; total: number }> {
  const stats = await statfs(dir);
  return { free: stats.bavail * stats.bsize, total: stats.blocks * stats.bsize };
}

/** The free-space threshold in bytes for a file system of `total` bytes (0: none). */
export function thresholdBytes(minFree: MinFreeDisk, total: number): number {
  const limits = [
    ...(minFree.bytes === null ? [] : [minFree.bytes]),
    ...(minFree.percent === null ? [] : [Math.floor((total * minFree.percent) / 100)]),
  ];
  return limits.length === 0 ? 0 : Math.min(...limits);
}

export class StoreHealth {
  private failure: Failure | undefined;
  private low: string | undefined;
  private readonly listeners = new Set<(condition: StoreCondition) => void>();
  private timer: NodeJS.Timeout | undefined;
  private dueAt = 0;
  private checking: Promise<void> | undefined;
  private pagesCheckedAt = 0;
  /** Until start(): failures are recorded, but nothing is probed on a timer. */
  private closed = true;

  constructor(private readonly options: StoreHealthOptions) {}

  condition(): StoreCondition {
    const where = this.options.file;
    if (this.failure?.kind === 'corrupt')
      return {
        state: 'corrupt',
        reason: `${this.failure.reason}; stop the controller and restore ${where} from a backup (see docs/operations.md, store integrity)`,
      };
    if (this.failure)
      return {
        state: 'unwritable',
        reason:
          this.failure.kind === 'full'
            ? `the disk holding the store (${dirOf(where)}) is full (SQLITE_FULL); no new attempts start and output that cannot be stored is marked in the logs; free space there and the controller resumes by itself`
            : `${this.failure.reason}; no new attempts start; the controller retries every second`,
      };
    if (this.low) return { state: 'low_disk', reason: this.low };
    return { state: 'ok' };
  }

  /** True while the store takes writes (it may still be low on space). */
  get writable(): boolean {
    return this.failure === undefined;
  }

  /** Calls `listener` whenever the condition changes; returns the unsubscribe. */
  onChange(listener: (condition: StoreCondition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a failed statement. Other errors are ignored: they are the caller's. */
  report(error: unknown): void {
    const failure = storageFailure(error);
    if (!failure || this.failure?.kind === 'corrupt') return;
    if (this.failure?.kind === failure.kind && this.failure.reason === failure.reason) return;
    this.failure = failure;
    this.changed();
    this.schedule(RETRY_MS);
  }

  /** Starts the periodic checks (free space; probes while failed). */
  start(): void {
    this.closed = false;
    this.schedule(0);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * One round of checks: free space against the threshold, the pages probe (at most every
   * 30 s; every 2 s with `pages`), and, while writes fail, a probe write that ends the
   * failure when it succeeds. Never throws.
   */
  check(pages = false): Promise<void> {
    this.checking ??= this.runCheck(pages).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async runCheck(pages: boolean): Promise<void> {
    const before = JSON.stringify(this.condition());
    let space: { free: number; total: number } | undefined;
    try {
      space = await diskSpace(dirOf(this.options.file));
    } catch {
      space = undefined; // statfs itself failing says nothing about the store
    }
    const threshold = space ? thresholdBytes(this.options.minFree, space.total) : 0;
    this.low =
      space && space.free < threshold
        ? `free space under the store is ${mib(space.free)}, below limits.min_free_disk (${mib(threshold)}); no new attempts start until there is more`
        : undefined;
    if (Date.now() - this.pagesCheckedAt >= (pages ? PAGES_SOON_MS : PAGES_EVERY_MS)) {
      this.pagesCheckedAt = Date.now();
      try {
        this.options.probePages();
      } catch (error) {
        const failure = storageFailure(error);
        if (failure?.kind === 'corrupt') this.failure = failure;
      }
    }
    if (this.failure && this.failure.kind !== 'corrupt') {
      const roomy =
        this.failure.kind !== 'full' ||
        (space !== undefined && space.free >= Math.max(threshold, RECOVERY_FLOOR));
      if (roomy) {
        try {
          this.options.probeWrite();
          this.failure = undefined;
        } catch (error) {
          const failure = storageFailure(error);
          if (failure) this.failure = failure;
        }
      }
    }
    if (JSON.stringify(this.condition()) !== before) this.changed();
  }

  /** The next check in `ms`, unless one is due sooner already. */
  private schedule(ms: number): void {
    const due = Date.now() + ms;
    if (this.closed || (this.timer && this.dueAt <= due)) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() =>
        this.schedule(this.failure && this.failure.kind !== 'corrupt' ? RETRY_MS : CHECK_MS),
      );
    }, ms);
    this.timer.unref();
  }

  private changed(): void {
    const condition = this.condition();
    for (const listener of this.listeners) {
      try {
        listener(condition);
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
  }
}

function dirOf(file: string): string {
  const slash = file.lastIndexOf('/');
  return slash <= 0 ? (slash === 0 ? '/' : '.') : file.slice(0, slash);
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
