import { useState } from 'react';
import { api, type Build, type Job, type QueueEntry } from '../api.ts';
import { Status } from '../components/Status.tsx';
import { Time } from '../components/Time.tsx';
import { age, duration } from '../format.ts';
import { useLive } from '../live.ts';
import { buildHref, href } from '../router.ts';
import { useData } from '../useData.ts';

const FILTERS = ['all', 'success', 'failure', 'error', 'running', 'queued', 'canceled'] as const;

export function Dashboard() {
  const jobs = useData(() => api<Job[]>('GET', '/api/v1/jobs'), []);
  const running = useData(() => api<Build[]>('GET', '/api/v1/builds?status=running&limit=50'), []);
  const queue = useData(() => api<QueueEntry[]>('GET', '/api/v1/queue'), []);
  useLive(() => {
    jobs.reload();
    running.reload();
    queue.reload();
  });
  const [status, setStatus] = useState<(typeof FILTERS)[number]>('all');
  const [name, setName] = useState('');
  const list = (jobs.data ?? []).filter(
    (j) =>
      (status === 'all' || j.lastBuild?.status === status) &&
      j.name.toLowerCase().includes(name.toLowerCase()),
  );
  return (
    <>
      <h1>Dashboard</h1>
      {jobs.error && (
        <p role="alert" className="error">
          {jobs.error}
        </p>
      )}
      <div className="filters" role="search">
        <label>
          Name{' '}
          <input
            type="search"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="filter jobs"
          />
        </label>
        <label>
          Status{' '}
          <select
            value={status}
            onChange={(e) => setStatus(e.target.value as (typeof FILTERS)[number])}
          >
            {FILTERS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
      </div>
      <table className="list" aria-label="Jobs">
        <thead>
          <tr>
            <th>Job</th>
            <th>Last build</th>
            <th>Branch</th>
            <th>Duration</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {list.map((job) => (
            <tr key={job.name} data-job={job.name}>
              <td>
                <a href={href({ page: 'job', name: job.name })}>{job.name}</a>
              </td>
              <td>
                {job.lastBuild ? (
                  <a href={buildHref(job.lastBuild.id)}>
                    #{job.lastBuild.number} <Status status={job.lastBuild.status} />
                  </a>
                ) : (
                  'never built'
                )}
              </td>
              <td>{job.lastBuild?.tag ?? job.lastBuild?.branch ?? '—'}</td>
              <td>
                {job.lastBuild ? duration(job.lastBuild.startedAt, job.lastBuild.finishedAt) : '—'}
              </td>
              <td>{job.lastBuild ? <Time at={job.lastBuild.createdAt} relative /> : '—'}</td>
            </tr>
          ))}
          {list.length === 0 && (
            <tr>
              <td colSpan={5}>No jobs match.</td>
            </tr>
          )}
        </tbody>
      </table>
      <div className="columns">
        <section aria-labelledby="running-title">
          <h2 id="running-title">Running now</h2>
          {(running.data ?? []).length === 0 ? (
            <p>Nothing is running.</p>
          ) : (
            <ul className="plain">
              {running.data!.map((b) => (
                <li key={b.id}>
                  <a href={buildHref(b.id)}>
                    {b.job} #{b.number}
                  </a>{' '}
                  on {b.tag ?? b.branch ?? b.sha.slice(0, 10)} for {duration(b.startedAt, null)}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="queued-title">
          <h2 id="queued-title">Queued</h2>
          <QueueList entries={queue.data ?? []} />
        </section>
      </div>
    </>
  );
}

export function QueueList({ entries }: { entries: QueueEntry[] }) {
  if (entries.length === 0) return <p>The queue is empty.</p>;
  return (
    <ul className="plain queue">
      {entries.map((q) => (
        <li key={q.attemptId}>
          <a href={buildHref(q.buildId)}>
            {q.job} #{q.buildNumber}
          </a>{' '}
          · {q.jobRun}{' '}
          <span className="muted">
            queued {age(q.queuedAt)}; waiting for {q.waitingFor}
          </span>
        </li>
      ))}
    </ul>
  );
}
