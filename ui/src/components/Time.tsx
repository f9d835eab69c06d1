import { age, dateTime, isoWithOffset } from '../format.ts';

/**
 * A point in time in the viewer's zone, with the zone named (`14:02 GMT+1`); `relative`
 * shows "5m ago" instead. The other form is in the tooltip, the exact instant in `dateTime`.
 */
export function Time({ at, relative = false }: { at: number | null; relative?: boolean }) {
  if (at === null) return <>—</>;
  const absolute = dateTime(at);
  return (
    <time dateTime={isoWithOffset(at)} title={relative ? absolute : age(at)}>
      {relative ? age(at) : absolute}
    </time>
  );
}
