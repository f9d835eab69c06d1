import { useState, type FormEvent } from 'react';
import { api, ApiError, type Build, type Input } from '../api.ts';
import { DurationChart } from '../components/DurationChart.tsx';
import { NotFound } from '../components/NotFound.tsx';
import { Status } from '../components/Status.tsx';
import { Time } from '../components/Time.tsx';
import { duration } from '../format.ts';
import { useLive } from '../live.ts';
import { buildHref } from '../router.ts';
import { useData } from '../useData.ts';

const PAGE = 20;

function TriggerForm({ job, onCreated }: { job: string; onCreated: (build: Build) => void }) {
  const [branch, setBranch] = useState('');
  const inputs = useData(
    () =>
      api<{ branch: string; inputs: Record<string, Input> | null; error: string | null }>(
        'GET',
        `/api/v1/jobs/${encodeURIComponent(job)}/inputs${branch ? `?branch=${encodeURIComponent(branch)}` : ''}`,
      ),
    [job, branch],
  );
  const branches = useData(
    () =>
      api<{ default: string; branches: string[] }>(
        'GET',
        `/api/v1/jobs/${encodeURIComponent(job)}/branches`,
      ),
    [job],
  );
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [error, setError] = useState<string | null>(null);
  const declared = inputs.data?.inputs ?? {};
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setError(null);
    const given: Record<string, string | number | boolean> = {};
    for (const [name, input] of Object.entries(declared)) {
      const value = values[name];
      if (value === undefined || value === '') continue;
      given[name] = input.type === 'number' ? Number(value) : value;
    }
    try {
      const build = await api<Build>('POST', `/api/v1/jobs/${encodeURIComponent(job)}/builds`, {
        ...(branch ? { branch } : {}),
        inputs: given,
      });
      onCreated(build);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <form className="trigger" onSubmit={(e) => void submit(e)} aria-label="Trigger a build">
      <h2>Trigger a build</h2>
      <label>
        Branch{' '}
        <input
          name="branch"
          list="branches"
          value={branch}
          onChange={(e) => setBranch(e.target.value)}
          placeholder={branches.data?.default ?? 'default branch'}
        />
      </label>
      <datalist id="branches">
        {(branches.data?.branches ?? []).map((b) => (
          <option key={b} value={b} />
        ))}
      </datalist>
      {inputs.error && (
        <p role="alert" className="error">
          {inputs.error}
        </p>
      )}
      {inputs.data?.error && <p className="error">{inputs.data.error}</p>}
      {Object.entries(declared).map(([name, input]) => {
        const id = `input-${name}`;
        const current = values[name] ?? input.default ?? (input.type === 'boolean' ? false : '');
        const set = (v: string | boolean): void => setValues({ ...values, [name]: v });
        return (
          <div key={name} className="field">
            <label htmlFor={id}>
              {name}
              {input.required && ' (required)'}
            </label>
            {input.description && <p className="hint">{input.description}</p>}
            {input.type === 'boolean' ? (
              <input
                id={id}
                type="checkbox"
                checked={current === true || current === 'true'}
                onChange={(e) => set(e.target.checked)}
              />
            ) : input.type === 'choice' ? (
              <select id={id} value={String(current)} onChange={(e) => set(e.target.value)}>
                {input.options.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            ) : (
              <input
                id={id}
                type={input.type === 'number' ? 'number' : 'text'}
                required={input.required && input.default === null}
                value={String(current)}
                onChange={(e) => set(e.target.value)}
              />
            )}
          </div>
        );
      })}
      <button type="submit">Run</button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

export function JobPage({ name }: { name: string }) {
  const job = useData(
    () => api<{ name: string }>('GET', `/api/v1/jobs/${encodeURIComponent(name)}`),
    [name],
  );
  if (job.status === 404)
    return (
      <NotFound
        what="Job"
        detail={`There is no job named "${name}": it may have been removed or renamed, or the link is wrong.`}
      />
    );
  if (job.error && !job.data)
    return (
      <p role="alert" className="error">
        {job.error}
      </p>
    );
  if (!job.data) return <p>Loading…</p>;
  return <JobBuilds name={name} />;
}

function JobBuilds({ name }: { name: string }) {
  const [before, setBefore] = useState<number[]>([]);
  const cursor = before.at(-1);
  const builds = useData(
    () =>
      api<Build[]>(
        'GET',
        `/api/v1/builds?job=${encodeURIComponent(name)}&limit=${PAGE}${cursor ? `&before=${cursor}` : ''}`,
      ),
    [name, cursor],
  );
  useLive((event, data) => {
    if (event === 'build' && (data as Build).job === name) builds.reload();
  });
  const list = builds.data ?? [];
  return (
    <>
      <h1>{name}</h1>
      <TriggerForm job={name} onCreated={(b) => (location.hash = buildHref(b.id))} />
      <h2>Builds</h2>
      {builds.data && <DurationChart builds={list} />}
      {builds.error && (
        <p role="alert" className="error">
          {builds.error}
        </p>
      )}
      <div className="table-scroll">
        <table className="list" aria-label="Builds">
          <thead>
            <tr>
              <th>Build</th>
              <th>Status</th>
              <th>Ref</th>
              <th>Commit</th>
              <th>Cause</th>
              <th>Duration</th>
              <th>When</th>
            </tr>
          </thead>
          <tbody>
            {list.map((b) => (
              <tr key={b.id}>
                <td>
                  <a href={buildHref(b.id)}>#{b.number}</a>
                </td>
                <td>
                  <Status status={b.status} />
                </td>
                <td>{b.tag ?? b.branch ?? '—'}</td>
                <td>
                  <code>{b.sha.slice(0, 10)}</code>
                </td>
                <td>{b.cause}</td>
                <td>{duration(b.startedAt, b.finishedAt)}</td>
                <td>
                  <Time at={b.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button disabled={before.length === 0} onClick={() => setBefore(before.slice(0, -1))}>
          Newer
        </button>
        <button
          disabled={list.length < PAGE}
          onClick={() => setBefore([...before, list.at(-1)!.id])}
        >
          Older
        </button>
      </nav>
    </>
  );
}
