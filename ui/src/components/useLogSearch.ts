/**
 * Search in a step's log: the part the viewer holds is searched at once (in the text as it
 * is shown); when that is not the whole log, the server searches all of it, and the hits
 * it finds (line starts and numbers) are what Next and Previous go through.
 */
import { useEffect, useMemo, useState } from 'react';
import { api, type LogSearchResult } from '../api.ts';
import type { Line, LogWindow } from '../log-lines.ts';
import type { LogTarget } from './useLogWindow.ts';

type SearchAnswer = LogSearchResult;

export interface LogSearch {
  /** Hits in log order, one per line. */
  hits: LogTarget[];
  /** The hits are of the whole log (not only of the part loaded). */
  whole: boolean;
  /** More hits exist than were returned. */
  truncated: boolean;
  searching: boolean;
  error: string | null;
}

/** Hits on the lines of the window whose shown text holds `query` (any case). */
function localHits(win: LogWindow, query: string, shown: (line: Line) => string): LogTarget[] {
  const needle = query.toLowerCase();
  const out: LogTarget[] = [];
  win.lines.forEach((line, i) => {
    if (shown(line).toLowerCase().includes(needle))
      out.push({ lineStart: line.offset, line: win.firstLine === null ? null : win.firstLine + i });
  });
  return out;
}

export function useLogSearch(options: {
  buildId: number;
  attemptId: number;
  step: number;
  query: string;
  win: LogWindow;
  /** The window holds the whole log: no need to ask the server. */
  whole: boolean;
  shown: (line: Line) => string;
}): LogSearch {
  const { buildId, attemptId, step, query, win, whole, shown } = options;
  const local = useMemo(() => (query ? localHits(win, query, shown) : []), [win, query, shown]);
  const [server, setServer] = useState<{
    query: string;
    hits: LogTarget[];
    truncated: boolean;
  } | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setError(null);
    if (!query || whole) {
      setSearching(false);
      return;
    }
    setSearching(true);
    let stale = false;
    const timer = setTimeout(() => {
      api<SearchAnswer>(
        'GET',
        `/api/v1/builds/${buildId}/logs/search?attempt=${attemptId}&step=${step}&limit=1000&q=${encodeURIComponent(query)}`,
      )
        .then((answer) => {
          if (stale) return;
          const hits: LogTarget[] = [];
          for (const m of answer.matches)
            if (hits.at(-1)?.lineStart !== m.lineStart)
              hits.push({ lineStart: m.lineStart, line: m.line });
          setServer({ query, hits, truncated: answer.truncated });
        })
        .catch((e: unknown) => !stale && setError((e as Error).message))
        .finally(() => !stale && setSearching(false));
    }, 250);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [buildId, attemptId, step, query, whole]);

  if (!whole && server && server.query === query)
    return { hits: server.hits, whole: true, truncated: server.truncated, searching, error };
  return { hits: local, whole, truncated: false, searching, error };
}
