import { useState } from 'react';
import {
  api,
  ApiError,
  type Attempt,
  type BuildDetail,
  type Diagnostic,
  type JobRun,
} from '../api.ts';
import { BuildInfo } from '../components/BuildInfo.tsx';
import { Graph } from '../components/Graph.tsx';
import { LogView } from '../components/LogView.tsx';
import { NotFound } from '../components/NotFound.tsx';
import { Status } from '../components/Status.tsx';
import { Time } from '../components/Time.tsx';
import { duration, outcomeKind } from '../format.ts';
import { useLive } from '../live.ts';
import { buildHref, href, type Route } from '../router.ts';
import { useData } from '../useData.ts';

type BuildRoute = Extract<Route, { page: 'build' }>;

const FINISHED = new Set(['success', 'failure', 'error', 'canceled']);

function Diagnostics({ diagnostics, text }: { diagnostics: Diagnostic[]; text: string | null }) {
  const lines = text?.split('\n') ?? [];
  return (
    <section className="diagnostics" aria-label="Pipeline errors">
      <h2>The pipeline is invalid</h2>
      {diagnostics.map((d, i) => (
        <article key={i} className={`diagnostic ${d.severity}`}>
          <p>
            <code>
              {d.file}:{d.line}:{d.column}
            </code>{' '}
            <strong>{d.severity}</strong> [{d.code}] {d.path && <code>{d.path}</code>}
          </p>
          <p>{d.message}</p>
          {lines[d.line - 1] !== undefined && (
            <pre className="excerpt">
              {`${String(d.line).padStart(4)} | ${lines[d.line - 1]}\n     | ${' '.repeat(Math.max(0, d.column - 1))}${'^'.repeat(Math.max(1, d.endLine === d.line ? d.endColumn - d.column : 1))}`}
            </pre>
          )}
        </article>
      ))}
    </section>
  );
}

function Steps({
  build,
  run,
  attempt,
  route,
}: {
  build: BuildDetail;
  run: JobRun;
  attempt: Attempt;
  route: BuildRoute;
}) {
  const failing = attempt.steps.find(
    (s) => s.outcome !== null && s.outcome !== 'success' && s.outcome !== 'skipped',
  );
  const chosen = route.step ?? failing?.index ?? attempt.steps.at(-1)?.index ?? null;
  const step = attempt.steps.find((s) => s.index === chosen);
  const to = (stepIndex: number, line: number | null = null): string =>
    href({
      page: 'build',
      id: build.id,
      jobRun: run.id,
      attempt: attempt.number,
      step: stepIndex,
      line,
    });
  return (
    <div className="steps-and-log">
      <ol className="steps" aria-label={`Steps of ${run.name}`}>
        <li>
          <a href={to(-1)} aria-current={chosen === -1 ? 'true' : undefined} className="step setup">
            set-up (agent)
          </a>
        </li>
        {attempt.steps.map((s) => {
          const kind = outcomeKind(s.outcome, s.status);
          return (
            <li
              key={s.index}
              data-step={s.index}
              data-kind={kind}
              className={s === failing ? 'failing' : undefined}
            >
              <a
                href={to(s.index)}
                aria-current={chosen === s.index ? 'true' : undefined}
                className={`step step-${kind}`}
              >
                <Status status={s.status} outcome={s.outcome} />{' '}
                <span className="step-name">{s.name}</span>{' '}
                <span className="muted">{duration(s.startedAt, s.finishedAt)}</span>
              </a>
              {s.reason && s.outcome !== 'success' && (
                <p className={`reason reason-${kind}`}>{s.reason}</p>
              )}
            </li>
          );
        })}
      </ol>
      {chosen !== null && (
        <LogView
          key={`${attempt.id}:${chosen}`}
          buildId={build.id}
          attemptId={attempt.id}
          step={chosen}
          live={!FINISHED.has(attempt.status) && (step === undefined || step.finishedAt === null)}
          highlight={route.line}
          lineHref={(line) => to(chosen, line)}
          title={step?.name ?? 'set-up'}
        />
      )}
    </div>
  );
}

export function BuildPage({ route }: { route: BuildRoute }) {
  const detail = useData(() => api<BuildDetail>('GET', `/api/v1/builds/${route.id}`), [route.id]);
  useLive((event, data) => {
    if (event === 'build' && (data as { id: number }).id === route.id) detail.reload();
  });
  const [message, setMessage] = useState<string | null>(null);
  const build = detail.data;
  if (detail.status === 404 && !build)
    return (
      <NotFound
        what="Build"
        detail={`There is no build with id ${route.id}: it may have been removed, or the link is wrong.`}
      />
    );
  if (detail.error && !build)
    return (
      <p role="alert" className="error">
        {detail.error}
      </p>
    );
  if (!build) return <p>Loading…</p>;
  const failingRun = build.jobRuns.find((r) => r.status === 'failure' || r.status === 'error');
  const run =
    build.jobRuns.find((r) => r.id === route.jobRun) ??
    failingRun ??
    build.jobRuns.find((r) => r.status === 'running') ??
    build.jobRuns[0];
  const attempt = run
    ? (run.attempts.find((a) => a.number === route.attempt) ?? run.attempts.at(-1))
    : undefined;
  const act = async (path: string, body?: unknown): Promise<void> => {
    setMessage(null);
    try {
      await api('POST', `/api/v1/builds/${build.id}/${path}`, body);
      detail.reload();
    } catch (e) {
      setMessage(e instanceof ApiError ? e.message : String(e));
    }
  };
  const finished = FINISHED.has(build.status);
  return (
    <>
      <p className="crumbs">
        <a href={href({ page: 'job', name: build.job })}>{build.job}</a> / build #{build.number}
      </p>
      <h1>
        {build.job} #{build.number} <Status status={build.status} />
      </h1>
      <p className="meta">
        {build.tag ? `tag ${build.tag}` : `branch ${build.branch ?? '—'}`} at{' '}
        <code>{build.sha.slice(0, 12)}</code> · {build.cause} ({build.causeDetail}) · created{' '}
        <Time at={build.createdAt} /> (<Time at={build.createdAt} relative />) ·{' '}
        {duration(build.startedAt, build.finishedAt)}
      </p>
      <BuildInfo build={build} />
      {build.reason && (
        <p className={`reason reason-${outcomeKind(null, build.status)}`}>{build.reason}</p>
      )}
      <div className="actions">
        <button type="button" disabled={finished} onClick={() => void act('cancel')}>
          Cancel
        </button>
        <button
          type="button"
          disabled={!finished || build.jobRuns.length === 0}
          onClick={() => void act('rerun', { failedOnly: false })}
        >
          Re-run
        </button>
        <button
          type="button"
          disabled={!finished || build.jobRuns.length === 0 || build.status === 'success'}
          onClick={() => void act('rerun', { failedOnly: true })}
        >
          Re-run failed
        </button>
        {message && (
          <span role="alert" className="error">
            {message}
          </span>
        )}
      </div>
      {build.diagnostics.length > 0 && (
        <Diagnostics diagnostics={build.diagnostics} text={build.pipelineText} />
      )}
      {build.jobRuns.length > 0 && (
        <div className="graph-wrap">
          <Graph
            runs={build.jobRuns}
            selected={run?.id ?? null}
            onSelect={(r) => (location.hash = buildHref(build.id, r.id))}
          />
        </div>
      )}
      {run && (
        <section aria-label={`Job ${run.name}`} className="jobrun">
          <h2>
            {run.name} <Status status={run.status} outcome={run.outcome} />
          </h2>
          {run.reason && run.outcome !== 'success' && (
            <p className={`reason reason-${outcomeKind(run.outcome, run.status)}`}>{run.reason}</p>
          )}
          {run.attempts.length > 1 && (
            <nav className="attempts" aria-label="Attempts">
              {run.attempts.map((a) => (
                <a
                  key={a.id}
                  href={href({
                    page: 'build',
                    id: build.id,
                    jobRun: run.id,
                    attempt: a.number,
                    step: null,
                    line: null,
                  })}
                  aria-current={a.id === attempt?.id ? 'true' : undefined}
                >
                  attempt {a.number} <Status status={a.status} outcome={a.outcome} />
                </a>
              ))}
            </nav>
          )}
          {attempt ? (
            <Steps build={build} run={run} attempt={attempt} route={route} />
          ) : (
            <p>Not started yet.</p>
          )}
        </section>
      )}
    </>
  );
}
