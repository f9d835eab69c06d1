import { api, type Agent, type QueueEntry } from '../api.ts';
import { age } from '../format.ts';
import { useLive } from '../live.ts';
import { buildHref } from '../router.ts';
import { useData } from '../useData.ts';
import { QueueList } from './Dashboard.tsx';

export function QueuePage() {
  const queue = useData(() => api<QueueEntry[]>('GET', '/api/v1/queue'), []);
  const agents = useData(() => api<Agent[]>('GET', '/api/v1/agents'), []);
  useLive(() => {
    queue.reload();
    agents.reload();
  });
  return (
    <>
      <h1>Queue and agents</h1>
      <section aria-labelledby="q">
        <h2 id="q">Queued attempts</h2>
        <QueueList entries={queue.data ?? []} />
      </section>
      <section aria-labelledby="a">
        <h2 id="a">Agents</h2>
        <table className="list" aria-label="Agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Labels</th>
              <th>Backend</th>
              <th>Busy</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {(agents.data ?? []).map((a) => (
              <tr key={a.id}>
                <td>{a.name}</td>
                <td>{a.labels.join(', ')}</td>
                <td>{a.backend}</td>
                <td>
                  {a.runs.length} / {a.executors}
                  {a.runs.length > 0 && (
                    <ul className="plain">
                      {a.runs.map((r) => (
                        <li key={r.attemptId}>
                          <a href={buildHref(r.buildId)}>
                            {r.job} #{r.buildNumber}
                          </a>{' '}
                          · {r.jobRun}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{age(a.lastSeen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
