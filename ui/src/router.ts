/** Hash routes: #/, #/jobs/NAME, #/builds/ID[/JOBRUN/ATTEMPT/STEP], #/queue. */
import { useEffect, useState } from 'react';

export type Route =
  | { page: 'dashboard' }
  | { page: 'job'; name: string }
  | {
      page: 'build';
      id: number;
      jobRun: number | null;
      attempt: number | null;
      step: number | null;
      line: number | null;
    }
  | { page: 'queue' }
  | { page: 'not-found'; path: string };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'dashboard' };
  if (parts[0] === 'jobs' && parts[1]) return { page: 'job', name: parts[1] };
  if (parts[0] === 'queue') return { page: 'queue' };
  if (parts[0] === 'builds' && /^\d+$/.test(parts[1] ?? '')) {
    const num = (s: string | undefined): number | null =>
      s && /^-?\d+$/.test(s) ? Number(s) : null;
    const line = /(?:^|&)L=(\d+)/.exec(query)?.[1];
    return {
      page: 'build',
      id: Number(parts[1]),
      jobRun: num(parts[2]),
      attempt: num(parts[3]),
      step: num(parts[4]),
      line: line ? Number(line) : null,
    };
  }
  return { page: 'not-found', path };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'dashboard':
      return '#/';
    case 'job':
      return `#/jobs/${encodeURIComponent(route.name)}`;
    case 'queue':
      return '#/queue';
    case 'build': {
      const rest = [route.jobRun, route.attempt, route.step].filter((x) => x !== null).join('/');
      return `#/builds/${route.id}${rest ? `/${rest}` : ''}${route.line !== null ? `?L=${route.line}` : ''}`;
    }
    case 'not-found':
      return '#/';
  }
}

/** The page of a build (optionally of one of its job runs). */
export function buildHref(id: number, jobRun: number | null = null): string {
  return href({ page: 'build', id, jobRun, attempt: null, step: null, line: null });
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
