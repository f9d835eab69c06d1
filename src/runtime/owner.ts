/**
 * Who made a pod, and whether that maker is still alive: the basis of sweeping the
 * leftovers of crashed runs without touching pods of runs that are still going.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Backend, OwnerLabels, PodRef } from '../backends/backend.ts';
import { LABELS } from '../backends/backend.ts';

/** The start time of a process (clock ticks since boot), or '0' where unknown. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall: starttime
  } catch {
    return undefined;
  }
}

/** Owner labels for pods made by this process. */
export function currentOwner(creator: string): Omit<OwnerLabels, 'runId' | 'job' | 'attempt'> {
  return {
    creator,
    creatorHost: hostname(),
    creatorPid: process.pid,
    creatorStart: processStart(process.pid) ?? '0',
  };
}

/** True when the process that made the pod is still running on this host. */
export function ownerAlive(labels: Readonly<Record<string, string>>): boolean {
  if (labels[LABELS.creatorHost] !== hostname()) return true; // another host's: not ours to judge
  const pid = Number(labels[LABELS.creatorPid]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const start = processStart(pid);
  return (
    start !== undefined &&
    (labels[LABELS.creatorStart] === '0' || start === labels[LABELS.creatorStart])
  );
}

/**
 * Removes pods of `creator` on this host whose creating process has died (a crashed or
 * SIGKILLed run). Returns what it removed.
 */
export async function sweepDeadOwners(backend: Backend, creator: string): Promise<PodRef[]> {
  const pods = await backend.list({ [LABELS.creator]: creator });
  const dead = pods.filter((pod) => !ownerAlive(pod.labels));
  await Promise.all(dead.map((pod) => backend.remove(pod)));
  return dead;
}
