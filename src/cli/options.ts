import { SlipwayError } from '../errors/index.ts';
import { BUILD_EVENTS, type BuildContext, type BuildEvent } from '../pipeline/plan.ts';

/** Collects a repeatable option into a list (commander's reducer shape). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses `K=V` pairs; `what` names the option in errors (e.g. "--input"). */
export function parsePairs(
  pairs: readonly string[] | undefined,
  what: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        `${what} ${JSON.stringify(pair)} is not KEY=VALUE; write it like ${what} name=value`,
      );
    }
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** Options that describe the build being planned, shared by validate and run. */
export interface ContextOptions {
  event?: string;
  branch?: string;
  tag?: string;
  sha?: string;
  input?: string[];
}

/** Builds a partial context from command-line options on top of what git said. */
export function contextFromOptions(
  options: ContextOptions,
  fromGit: Partial<BuildContext>,
): Partial<BuildContext> {
  if (options.event !== undefined && !(BUILD_EVENTS as readonly string[]).includes(options.event)) {
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      `--event ${options.event} is not an event; use one of ${BUILD_EVENTS.join(', ')}`,
    );
  }
  const context: Partial<BuildContext> = { ...fromGit };
  if (options.tag !== undefined) {
    context.tag = options.tag;
    context.event = 'tag';
    if (options.branch === undefined) context.branch = null;
  }
  if (options.branch !== undefined) context.branch = options.branch;
  if (options.sha !== undefined) context.sha = options.sha;
  if (options.event !== undefined) context.event = options.event as BuildEvent;
  if (options.input !== undefined) context.inputs = parsePairs(options.input, '--input');
  if (context.inputs && Object.keys(context.inputs).length > 0 && context.event === undefined)
    context.event = 'manual';
  return context;
}
