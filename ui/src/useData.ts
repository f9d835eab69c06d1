import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './api.ts';

/**
 * Loads data, and reloads it when `reload` is called (coalesced); keeps the last value.
 * `status` is the HTTP status of the last failure (404: the thing does not exist).
 */
export function useData<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data: T | null; error: string | null; status: number | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<number | null>(null);
  const loading = useRef(false);
  const again = useRef(false);
  const loader = useRef(load);
  loader.current = load;
  const reload = useCallback(() => {
    if (loading.current) {
      again.current = true;
      return;
    }
    loading.current = true;
    loader
      .current()
      .then((value) => {
        setData(value);
        setError(null);
        setStatus(null);
      })
      .catch((e: unknown) => {
        setError((e as Error).message);
        setStatus(e instanceof ApiError ? e.status : null);
      })
      .finally(() => {
        loading.current = false;
        if (again.current) {
          again.current = false;
          reload();
        }
      });
  }, []);
  useEffect(reload, deps);
  return { data, error, status, reload };
}
