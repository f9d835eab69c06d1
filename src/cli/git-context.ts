import { execFile } from 'node:child_process';
import type { BuildContext } from '../pipeline/plan.ts';

const TIMEOUT_MS = 5000;

/** The three questions, in the order the answers are read. */
const QUESTIONS: readonly (readonly string[])[] = [
  ['symbolic-ref', '--short', '-q', 'HEAD'],
  ['rev-parse', '-q', '--verify', 'HEAD'],
  ['describe', '--tags', '--exact-match', 'HEAD'],
];

/**
 * One shell asks git the three questions at once, in three background subshells, each
 * printing its question's index, git's exit status and its output, each followed by NUL
 * (one small write each, so the records do not interleave). Why one process: Node's main
 * thread blocks while it forks and execs a child (tens of milliseconds on a busy machine),
 * so three spawns cost start-up time that one does not; the shell's spawns run on another
 * core while the CLI loads its compiler. The directory arrives as $1, never in the script.
 */
const SCRIPT = `${QUESTIONS.map(
  (args, i) =>
    `(out=$(git -C "$1" ${args.join(' ')} 2>/dev/null); printf '${i}\\0%s\\0%s\\0' $? "$out") &`,
).join(' ')} wait`;

function spawnOutput(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: TIMEOUT_MS }, (error, stdout) =>
      // The exit statuses in the output tell which answers count; only a missing program
      // (no `sh`) makes the caller ask another way.
      resolve((error as NodeJS.ErrnoException | null)?.code === 'ENOENT' ? undefined : stdout),
    );
  });
}

/** The answers the shell printed: the trimmed output of each question that exited 0. */
function parseAnswers(output: string): (string | undefined)[] {
  const answers: (string | undefined)[] = QUESTIONS.map(() => undefined);
  const fields = output.split('\0');
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const index = Number(fields[i]);
    if (fields[i + 1] === '0' && index in answers)
      answers[index] = fields[i + 2]?.trim() || undefined;
  }
  return answers;
}

/** The same questions as one git process each: where there is no `sh`. */
function separately(dir: string): Promise<(string | undefined)[]> {
  return Promise.all(
    QUESTIONS.map(
      (args) =>
        new Promise<string | undefined>((resolve) => {
          execFile('git', ['-C', dir, ...args], { timeout: TIMEOUT_MS }, (error, stdout) =>
            resolve(error ? undefined : stdout.trim() || undefined),
          );
        }),
    ),
  );
}

/**
 * What git says about a working copy: branch, commit, and an exact tag if HEAD has one.
 * Missing facts stay undefined (not a repository, detached HEAD, git not installed).
 */
export async function gitContext(dir: string): Promise<Partial<BuildContext>> {
  const output = await spawnOutput('sh', ['-c', SCRIPT, 'slipway-git', dir]);
  const answers = output === undefined ? await separately(dir) : parseAnswers(output);
  const [branch, sha, tag] = answers;
  const context: Partial<BuildContext> = {};
  if (branch) context.branch = branch;
  if (sha) context.sha = sha;
  if (tag) context.tag = tag;
  return context;
}
