import { useCallback, useEffect, useRef, useState } from 'react';

/** Loads data, and reloads it when `reload` is called (coalesced); keeps the last value. */
export function useData<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
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
      })
      .catch((e: unknown) => setError((e as Error).message))
      .finally(() => {
        loading.current = false;
        if (again.current) {
          again.current = false;
          reload();
        }
      });
  }, []);
  useEffect(reload, deps);
  return { data, error, reload };
}
