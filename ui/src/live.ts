/** One shared stream of controller events; pages subscribe and refetch what they show. */
import { useEffect, useRef } from 'react';
import { follow } from './api.ts';

type Listener = (event: string, data: unknown) => void;
const listeners = new Set<Listener>();
let abort: AbortController | null = null;

function ensure(): void {
  if (abort) return;
  abort = new AbortController();
  void follow(
    '/api/v1/events',
    (e) => {
      const data = e.data ? (JSON.parse(e.data) as unknown) : null;
      for (const l of listeners) l(e.event, data);
    },
    abort.signal,
  ).finally(() => (abort = null));
}

/** Calls `onChange` (debounced) whenever a build or the queue changes. */
export function useLive(onChange: (event: string, data: unknown) => void): void {
  const ref = useRef(onChange);
  ref.current = onChange;
  useEffect(() => {
    const listener: Listener = (event, data) => ref.current(event, data);
    listeners.add(listener);
    ensure();
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) {
        abort?.abort();
        abort = null;
      }
    };
  }, []);
}
