import { useEffect, useState, type FormEvent } from 'react';
import { api, onSessionEnd, setToken, token } from './api.ts';
import { BuildPage } from './pages/Build.tsx';
import { Dashboard } from './pages/Dashboard.tsx';
import { JobPage } from './pages/Job.tsx';
import { QueuePage } from './pages/Queue.tsx';
import { useRoute } from './router.ts';

function Login({ onDone, notice }: { onDone: () => void; notice: string | null }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setToken(value.trim());
    try {
      await api('GET', '/api/v1/jobs');
      onDone();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <main className="login">
      <h1>Slipway</h1>
      {notice && !error && (
        <p role="alert" className="notice">
          {notice}
        </p>
      )}
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="token">Admin token</label>
        <p className="hint">
          Printed by <code>slipway server</code> on its first start, and stored in the data
          directory as <code>admin-token</code>. It is kept for this browser tab only.
        </p>
        <input
          id="token"
          type="password"
          autoComplete="current-password"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          required
        />
        <button type="submit">Sign in</button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

export function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(() => token() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  // A token the server stops accepting (rotated, or the server restarted with another)
  // ends the session everywhere at once: back to signing in, on the same page afterwards.
  useEffect(
    () =>
      onSessionEnd(() => {
        setNotice(
          'Your session has ended: the server no longer accepts this token (it was changed, or the server restarted with another one). Sign in again to go on.',
        );
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn)
    return (
      <Login
        notice={notice}
        onDone={() => {
          setNotice(null);
          setSignedIn(true);
        }}
      />
    );
  const current = route.page;
  return (
    <>
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href="#/">
          Slipway
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={current === 'dashboard' ? 'page' : undefined}>
            Dashboard
          </a>
          <a href="#/queue" aria-current={current === 'queue' ? 'page' : undefined}>
            Queue &amp; agents
          </a>
        </nav>
        <button
          className="link"
          onClick={() => {
            setToken(null);
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'dashboard' && <Dashboard />}
        {route.page === 'job' && <JobPage key={route.name} name={route.name} />}
        {route.page === 'build' && <BuildPage key={route.id} route={route} />}
        {route.page === 'queue' && <QueuePage />}
        {route.page === 'not-found' && (
          <p>
            No page at {route.path}. <a href="#/">Go to the dashboard</a>.
          </p>
        )}
      </main>
    </>
  );
}
