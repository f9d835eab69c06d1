/**
 * Credentials in builds. A pipeline names what it needs under a job's `secrets:`; a name
 * is a credential when the server configuration maps it (`secrets: {NAME: credential:ID}`)
 * or, failing a configured secret of that name, when a credential has that id. At trigger
 * time a named credential that is missing or outside its scope (job, branch) makes the
 * build `error` with a diagnostic naming the credential and the scope, never an empty
 * value; at dispatch only the credentials the job names travel, with their masking forms.
 */
import type { Diagnostic } from '../pipeline/diagnostics.ts';
import type { Plan } from '../pipeline/plan.ts';
import { locate } from '../pipeline/schema-issues.ts';
import { SourceFile } from '../pipeline/source.ts';
import { loadYaml, type LoadedDocument } from '../pipeline/yaml-loader.ts';
import { envValue, maskingForms } from './kinds.ts';
import { outOfScope } from './scope.ts';
import type { CredentialVault } from './vault.ts';

export interface CredentialCheck {
  /** The controller's job. */
  job: string;
  /** The build's branch; null for a tag or a pull request. */
  branch: string | null;
  plan: Plan;
  /** The pipeline's text and file, for the diagnostics' positions. */
  text: string;
  file: string;
  /** Names that are configured secrets (`env:`/`file:`), not credentials. */
  isPlainSecret: (name: string) => boolean;
}

/** What the controller asks of the credentials (ControllerOptions.credentials). */
export interface BuildCredentials {
  /** Diagnostics for the credentials this build's runnable jobs name but may not use. */
  check(input: CredentialCheck): Diagnostic[];
  /**
   * The variables of the credentials among `names` that the build may use (others are
   * left out: the runtime then fails the job saying the secret is not set), and every
   * form of them the masker must hide.
   */
  values(
    job: string,
    branch: string | null,
    names: readonly string[],
  ): { secrets: Record<string, string>; masks: string[] };
}

/**
 * Credentials for builds from a vault and the configuration's `credential:` references
 * (a function: a reload replaces them).
 */
export function createBuildCredentials(
  vault: CredentialVault,
  references: () => Readonly<Record<string, string>>,
): BuildCredentials {
  /** The credential id a name refers to, and whether the configuration says so. */
  const idOf = (name: string): { id: string; configured: boolean } | undefined => {
    const configured = references()[name];
    if (configured !== undefined) return { id: configured, configured: true };
    return vault.get(name) ? { id: name, configured: false } : undefined;
  };
  return {
    check(input) {
      const diagnostics: Diagnostic[] = [];
      let source: { file: SourceFile; doc: LoadedDocument | undefined } | undefined;
      const at = (job: string, name: string, code: Diagnostic['code'], message: string): void => {
        if (!source) {
          const file = new SourceFile(input.file, input.text);
          source = { file, doc: loadYaml(file, []) };
        }
        const jobs = (source.doc?.value as { jobs?: Record<string, { secrets?: unknown }> })?.jobs;
        const list = jobs?.[job]?.secrets;
        const index = Array.isArray(list) ? list.indexOf(name) : -1;
        const path = ['jobs', job, 'secrets', ...(index >= 0 ? [index] : [])];
        const range = source.doc ? locate(source.doc, path) : undefined;
        diagnostics.push(source.file.diagnostic(code, message, range, path));
      };
      const seen = new Set<string>();
      for (const planJob of input.plan.jobs) {
        if (planJob.skip !== null) continue;
        for (const name of planJob.secrets) {
          if (input.isPlainSecret(name) || seen.has(`${planJob.job}\0${name}`)) continue;
          seen.add(`${planJob.job}\0${name}`);
          const ref = idOf(name);
          if (!ref) continue;
          const credential = vault.get(ref.id);
          if (!credential) {
            at(
              planJob.job,
              name,
              'credential-missing',
              `secret ${name} refers to credential ${ref.id} (secrets.${name} in the server configuration), which does not exist; create it (slipway credentials add ${ref.id} --kind ...) or change the reference`,
            );
            continue;
          }
          const why = outOfScope(credential.scope, input.job, input.branch);
          if (why)
            at(
              planJob.job,
              name,
              'credential-out-of-scope',
              `secret ${name} is credential ${ref.id}, which this build of job ${input.job} may not use: ${why}; widen the credential's scope or remove ${name} from the job's secrets`,
            );
        }
      }
      return diagnostics;
    },
    values(job, branch, names) {
      const secrets: Record<string, string> = {};
      const masks: string[] = [];
      for (const name of names) {
        const ref = idOf(name);
        const credential = ref && vault.reveal(ref.id);
        if (!credential || outOfScope(credential.scope, job, branch)) continue;
        secrets[name] = envValue(credential.kind, credential.value);
        masks.push(...maskingForms(credential.kind, credential.value));
      }
      return { secrets, masks: [...new Set(masks)] };
    },
  };
}
