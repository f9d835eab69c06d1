import type { JobRun } from '../api.ts';
import { duration, outcomeKind } from '../format.ts';

const W = 190;
const H = 44;
const GAP_X = 60;
const GAP_Y = 14;

/**
 * The pipeline graph: one column per stage, a node per job run (matrix variants of one
 * job stacked together), an edge per `needs`. Text is rendered as SVG text nodes only.
 */
export function Graph({
  runs,
  selected,
  onSelect,
}: {
  runs: JobRun[];
  selected: number | null;
  onSelect: (run: JobRun) => void;
}) {
  const stages = new Map<number, JobRun[]>();
  for (const run of runs) stages.set(run.stage, [...(stages.get(run.stage) ?? []), run]);
  const columns = [...stages.keys()].sort((a, b) => a - b);
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((stage, col) => {
    // Group matrix variants of one job next to each other.
    const list = [...stages.get(stage)!].sort((a, b) => a.job.localeCompare(b.job) || a.id - b.id);
    list.forEach((run, row) =>
      position.set(run.name, { x: col * (W + GAP_X) + 4, y: row * (H + GAP_Y) + 4 }),
    );
  });
  const width = columns.length * (W + GAP_X);
  const height = Math.max(...columns.map((s) => stages.get(s)!.length), 1) * (H + GAP_Y) + 8;
  return (
    <svg
      className="graph"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="group"
      aria-label="Pipeline graph"
    >
      {runs.flatMap((run) =>
        run.needs.map((need) => {
          const from = position.get(need);
          const to = position.get(run.name);
          if (!from || !to) return null;
          const x1 = from.x + W;
          const y1 = from.y + H / 2;
          const x2 = to.x;
          const y2 = to.y + H / 2;
          return (
            <path
              key={`${need}->${run.name}`}
              className="edge"
              d={`M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`}
            />
          );
        }),
      )}
      {runs.map((run) => {
        const p = position.get(run.name)!;
        const kind = outcomeKind(run.outcome, run.status);
        const last = run.attempts.at(-1);
        return (
          <g
            key={run.id}
            className={`node node-${kind}${selected === run.id ? ' selected' : ''}`}
            transform={`translate(${p.x},${p.y})`}
            tabIndex={0}
            role="button"
            aria-label={`${run.name}: ${run.outcome ?? run.status}`}
            data-jobrun={run.name}
            onClick={() => onSelect(run)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                onSelect(run);
              }
            }}
          >
            <rect width={W} height={H} rx={6} />
            <text x={10} y={18} className="node-name">
              {run.name.length > 26 ? `${run.name.slice(0, 25)}…` : run.name}
            </text>
            <text x={10} y={34} className="node-meta">
              {`${run.outcome ?? run.status} · ${duration(last?.startedAt ?? null, last?.finishedAt ?? null)}`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
