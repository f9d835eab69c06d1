import { Cron } from 'croner';
import { matchPatterns } from './glob.ts';
import type { BuildContext, PlanInput, PlanTriggers } from './plan.ts';
import type { RawInput, RawOn } from './schema.ts';

/** A problem with `on:` found while normalizing it; path is below `on`. */
export interface TriggerProblem {
  code: 'invalid-cron' | 'invalid-input';
  path: (string | number)[];
  message: string;
}

const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly'];

/** Why a cron expression cannot be used, or undefined. Five fields, or a nickname. */
export function checkCron(expression: string): string | undefined {
  const text = expression.trim();
  if (!text.startsWith('@')) {
    const fields = text.split(/\s+/).length;
    if (fields !== 5) {
      return `"${text}" has ${fields} field${fields === 1 ? '' : 's'}; write five: minute hour day-of-month month day-of-week (e.g. "0 3 * * *")`;
    }
  } else if (!CRON_NICKNAMES.includes(text)) {
    return `"${text}" is not a cron nickname; use one of ${CRON_NICKNAMES.join(', ')}`;
  }
  try {
    new Cron(text, { paused: true }).stop();
    return undefined;
  } catch (error) {
    const message =
      error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
    return `"${text}" is not a valid cron expression: ${message}`;
  }
}

/** Why a time zone name cannot be used, or undefined. */
export function checkTimeZone(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return undefined;
  } catch {
    return `"${zone}" is not a known IANA time zone; use a name like UTC or Europe/Berlin`;
  }
}

function toList(patterns: string | string[] | undefined): string[] {
  if (patterns === undefined) return [];
  return typeof patterns === 'string' ? [patterns] : patterns;
}

/** Normalizes `on:`; an absent `on:` means push (all branches and tags), pull requests and manual. */
export function normalizeTriggers(on: RawOn | undefined, problems: TriggerProblem[]): PlanTriggers {
  if (on === undefined) {
    return {
      push: { branches: ['**'], tags: ['**'] },
      pullRequest: { branches: ['**'] },
      schedules: [],
      manual: { inputs: {} },
    };
  }
  const push =
    on.push === undefined || on.push === false
      ? null
      : on.push === true
        ? { branches: ['**'], tags: ['**'] }
        : {
            branches:
              on.push.branches === undefined && on.push.tags !== undefined
                ? []
                : toList(on.push.branches ?? '**'),
            tags:
              on.push.tags === undefined && on.push.branches !== undefined
                ? []
                : toList(on.push.tags ?? '**'),
          };
  const pullRequest =
    on.pull_request === undefined || on.pull_request === false
      ? null
      : { branches: on.pull_request === true ? ['**'] : toList(on.pull_request.branches ?? '**') };

  const schedules = (on.schedule ?? []).map((entry, i) => {
    const cronProblem = checkCron(entry.cron);
    if (cronProblem)
      problems.push({ code: 'invalid-cron', path: ['schedule', i, 'cron'], message: cronProblem });
    const timezone = entry.timezone ?? 'UTC';
    const zoneProblem = checkTimeZone(timezone);
    if (zoneProblem)
      problems.push({
        code: 'invalid-cron',
        path: ['schedule', i, 'timezone'],
        message: zoneProblem,
      });
    return { cron: entry.cron.trim(), timezone, branch: entry.branch ?? null };
  });

  let manual: PlanTriggers['manual'] = null;
  if (on.manual !== undefined && on.manual !== false) {
    const inputs: Record<string, PlanInput> = {};
    const raw = on.manual === true ? {} : (on.manual.inputs ?? {});
    for (const [name, input] of Object.entries(raw)) {
      inputs[name] = normalizeInput(name, input, problems);
    }
    manual = { inputs };
  }
  return { push, pullRequest, schedules, manual };
}

function normalizeInput(name: string, input: RawInput, problems: TriggerProblem[]): PlanInput {
  const type =
    input.type ??
    (input.options
      ? 'choice'
      : typeof input.default === 'boolean'
        ? 'boolean'
        : typeof input.default === 'number'
          ? 'number'
          : 'string');
  const at = (key: string, message: string): void => {
    problems.push({ code: 'invalid-input', path: ['manual', 'inputs', name, key], message });
  };
  const options = (input.options ?? []).map(String);
  if (type === 'choice' && options.length === 0)
    at('type', `input "${name}" is a choice but has no options; add options: [a, b]`);
  if (type !== 'choice' && input.options)
    at('options', `input "${name}" has options but its type is ${type}; set type: choice`);
  let defaultValue: string | number | boolean | null = input.default ?? null;
  if (defaultValue !== null) {
    const coerced = coerceInput(type, options, defaultValue);
    if (!coerced.ok) at('default', `the default of input "${name}" ${coerced.reason}`);
    else defaultValue = coerced.value;
  }
  return {
    type,
    description: input.description ?? '',
    required: input.required ?? false,
    default: defaultValue,
    options,
  };
}

/** Converts a given value (often text from a command line or a form) to an input's type. */
export function coerceInput(
  type: PlanInput['type'],
  options: readonly string[],
  value: string | number | boolean,
): { ok: true; value: string | number | boolean } | { ok: false; reason: string } {
  switch (type) {
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return { ok: false, reason: `must be true or false, not ${JSON.stringify(value)}` };
    case 'number': {
      const n = typeof value === 'number' ? value : Number(value);
      if (typeof value === 'boolean' || String(value).trim() === '' || !Number.isFinite(n))
        return { ok: false, reason: `must be a number, not ${JSON.stringify(value)}` };
      return { ok: true, value: n };
    }
    case 'choice':
      if (!options.includes(String(value)))
        return {
          ok: false,
          reason: `must be one of ${options.join(', ')}, not ${JSON.stringify(value)}`,
        };
      return { ok: true, value: String(value) };
    case 'string':
      return { ok: true, value: String(value) };
  }
}

/**
 * Checks given input values against the declared inputs: fills defaults, converts types,
 * and reports unknown or missing inputs.
 */
/** A problem with the input values given for one build. */
export interface InputProblem {
  kind: 'unknown' | 'missing' | 'invalid';
  message: string;
}

export function resolveInputs(
  declared: Record<string, PlanInput>,
  given: Readonly<Record<string, string | number | boolean>>,
  problems: InputProblem[],
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const name of Object.keys(given)) {
    if (!(name in declared)) {
      const names = Object.keys(declared);
      problems.push({
        kind: 'unknown',
        message:
          `a value was given for input "${name}", which on.manual.inputs does not declare` +
          (names.length > 0 ? ` (inputs: ${names.join(', ')})` : '; declare it there first'),
      });
    }
  }
  for (const [name, input] of Object.entries(declared)) {
    const value = given[name];
    if (value === undefined) {
      if (input.default !== null) out[name] = input.default;
      else if (input.required)
        problems.push({
          kind: 'missing',
          message: `input "${name}" is required; give a value for it`,
        });
      else out[name] = input.type === 'boolean' ? false : input.type === 'number' ? 0 : '';
      continue;
    }
    const coerced = coerceInput(input.type, input.options, value);
    if (coerced.ok) out[name] = coerced.value;
    else
      problems.push({
        kind: 'invalid',
        message: `the value given for input "${name}" ${coerced.reason}`,
      });
  }
  return out;
}

/** Whether `on:` includes the event of this build. */
export function isTriggered(triggers: PlanTriggers, context: BuildContext): boolean {
  switch (context.event) {
    case 'push':
      return (
        triggers.push !== null &&
        context.branch !== null &&
        matchPatterns(triggers.push.branches, context.branch) &&
        triggers.push.branches.length > 0
      );
    case 'tag':
      return (
        triggers.push !== null &&
        context.tag !== null &&
        triggers.push.tags.length > 0 &&
        matchPatterns(triggers.push.tags, context.tag)
      );
    case 'pull_request': {
      // The target branch; a plan made outside a controller names it as the branch.
      const target = context.prTargetBranch ?? context.branch;
      return (
        triggers.pullRequest !== null &&
        target !== null &&
        matchPatterns(triggers.pullRequest.branches, target)
      );
    }
    case 'schedule':
      return triggers.schedules.length > 0;
    case 'manual':
    case 'api':
      return triggers.manual !== null;
  }
}
