import type { Build } from '../api.ts';
import { duration, outcomeKind } from '../format.ts';

/** Drawing units: the chart scales to its width, bars keep their shape. */
const WIDTH = 600;
const HEIGHT = 110;
const AXIS = 64;
const TOP = 8;
const BOTTOM = 20;
const SLOTS = 40;
const SLOT = (WIDTH - AXIS - 8) / SLOTS;

export interface Bar {
  id: number;
  number: number;
  kind: string;
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Bars for the most recent builds, oldest on the left, each in a slot of fixed width (one
 * build draws one bar, not one as wide as the chart); heights against the longest one
 * (at least 1 s, so builds of zero length never divide by zero).
 */
export function chartBars(
  builds: Build[],
  now = Date.now(),
): { bars: Bar[]; max: number; plot: { top: number; bottom: number; left: number } } {
  const shown = [...builds].reverse().slice(-SLOTS);
  const times = shown.map((b) =>
    b.startedAt === null ? 0 : Math.max(0, (b.finishedAt ?? now) - b.startedAt),
  );
  const max = Math.max(1000, ...times);
  const span = HEIGHT - TOP - BOTTOM;
  const bars = shown.map((b, i) => {
    const height = Math.max(2, (times[i]! / max) * span);
    return {
      id: b.id,
      number: b.number,
      kind: outcomeKind(null, b.status),
      label: `#${b.number} ${b.status}, ${duration(b.startedAt, b.finishedAt, now)}`,
      x: AXIS + i * SLOT + 2,
      y: HEIGHT - BOTTOM - height,
      width: SLOT - 4,
      height,
    };
  });
  return { bars, max, plot: { top: TOP, bottom: HEIGHT - BOTTOM, left: AXIS } };
}

/** Durations and outcomes of recent builds, with a labelled time axis. */
export function DurationChart({ builds }: { builds: Build[] }) {
  if (builds.length === 0) return <p className="muted">No builds yet.</p>;
  const { bars, max, plot } = chartBars(builds);
  return (
    <svg
      className="chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={`Durations and outcomes of the last ${bars.length} build${bars.length === 1 ? '' : 's'}, up to ${duration(0, max)}`}
    >
      <line className="axis" x1={plot.left} y1={plot.top} x2={plot.left} y2={plot.bottom} />
      <line className="axis" x1={plot.left} y1={plot.bottom} x2={WIDTH - 4} y2={plot.bottom} />
      <text className="tick" x={plot.left - 6} y={plot.top + 10} textAnchor="end">
        {duration(0, max)}
      </text>
      <text className="tick" x={plot.left - 6} y={plot.bottom} textAnchor="end">
        0 s
      </text>
      <text className="tick" x={plot.left + 2} y={HEIGHT - 4}>
        {bars.length === 1
          ? `build #${bars[0]!.number}`
          : `builds #${bars[0]!.number}–#${bars.at(-1)!.number}`}
      </text>
      {bars.map((bar) => (
        <rect
          key={bar.id}
          x={bar.x}
          y={bar.y}
          width={bar.width}
          height={bar.height}
          className={`bar bar-${bar.kind}`}
        >
          <title>{bar.label}</title>
        </rect>
      ))}
    </svg>
  );
}
