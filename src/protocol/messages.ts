/**
 * The wire between the controller and agents: the only thing they share. The embedded
 * agent speaks it over an in-memory link; remote agents will speak the same messages over
 * the network, so there is one code path.
 */
import type { Outcome } from '../domain/status.ts';
import type { BuildContext, PlanJob } from '../pipeline/plan.ts';

export interface AgentInfo {
  id: string;
  name: string;
  /** Labels this agent offers (`linux`, `docker`). */
  labels: string[];
  /** How many attempts it runs at once. */
  executors: number;
  backend: string;
}

/** One job attempt handed to an agent. */
export interface Assignment {
  attemptId: number;
  buildId: number;
  /** `<job>-<build number>`: names the pod; unique per build. */
  runId: string;
  attempt: number;
  job: PlanJob;
  context: BuildContext;
  /** `ref`: where the commit lives when no branch holds it (a fork's `refs/pull/7/head`). */
  repo: { url: string; sha: string; ref?: string };
  /** The values of the secrets this job names (only those; none for an untrusted build). */
  secrets: Record<string, string>;
  /** Further forms of the secrets to mask (a credential's password alone, its key's body). */
  masks?: string[];
  /** Why the build is untrusted (a pull request from a fork); absent for trusted builds. */
  untrusted?: string;
  cacheScope: string;
  /** Absolute deadline (epoch ms): the job's timeout, stored by the controller. */
  deadline: number;
  graceMs: number;
}

export type StepStatus = 'running' | 'finished';

/** Agent → controller. Every message names its attempt. */
export type AgentMessage =
  | { type: 'attempt.started'; attemptId: number }
  | { type: 'progress'; attemptId: number; message: string }
  | { type: 'step.started'; attemptId: number; step: number; name: string; time: number }
  | {
      type: 'log';
      attemptId: number;
      step: number;
      /** Per step, from 0; a re-sent seq is ignored. */
      seq: number;
      /** Byte offset of `data` in the step's log. */
      offset: number;
      stream: 'stdout' | 'stderr';
      data: Buffer;
      /**
       * Raw (unmasked) bytes of each of the step's streams behind this chunk and all before
       * it, as the step wrote them (its spool counts raw bytes): where an adopted step resumes.
       */
      raw?: { stdout: number; stderr: number };
    }
  | {
      type: 'step.finished';
      attemptId: number;
      step: number;
      name: string;
      outcome: Outcome;
      reason: string;
      exitCode: number | null;
      time: number;
    }
  | { type: 'attempt.finished'; attemptId: number; outcome: Outcome; reason: string };

/** Where an attempt started by an earlier controller process continues. */
export interface ResumeInfo {
  step: number;
  /** `follow`: the step was running; `start`: run it (nothing of it ran yet). */
  mode: 'follow' | 'start';
  /** Raw bytes of the step's stdout and stderr behind what is stored: where reading resumes. */
  offsets: { stdout: number; stderr: number };
  /** Next log chunk seq and byte offset of that step. */
  seq: number;
  offset: number;
  previousFailed: boolean;
  /** Steps before `step` that succeeded, for the attempt's summary. */
  succeededBefore: number;
}

/** Controller → agent. */
export type ControllerMessage =
  | { type: 'assign'; assignment: Assignment }
  /** Re-attach to the pod of an attempt that an earlier process ran, and finish it. */
  | { type: 'adopt'; assignment: Assignment; resume: ResumeInfo }
  | { type: 'cancel'; attemptId: number; reason: string };

/** One end of a link: what the other side calls to deliver a message. */
export interface AgentLink {
  info: AgentInfo;
  /** Delivers a controller message to the agent. */
  send(message: ControllerMessage): void;
}

/** The controller side an agent talks to. */
export interface ControllerPort {
  connect(link: AgentLink): void;
  disconnect(agentId: string): void;
  /** Delivers an agent message; resolves when the controller has stored it. */
  receive(agentId: string, message: AgentMessage): Promise<void>;
}
