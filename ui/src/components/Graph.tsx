import { useLayoutEffect, useRef, useState } from 'react';
import type { JobRun } from '../api.ts';
import { duration, outcomeKind } from '../format.ts';

const W = 190;
const H = 44;
const GAP_X = 60;
const GAP_Y = 14;
/** Characters of a name that fit on a node; longer names are cut and shown whole on hover or focus. */
export const NAME_FITS = 25;
const TIP_H = 26;

/** The label drawn on a node: the name, cut with an ellipsis when it does not fit. */
export function nodeLabel(name: string): string {
  return name.length > NAME_FITS ? `${name.slice(0, NAME_FITS - 1)}…` : name;
}

/**
 * The pipeline graph: one column per stage, a node per job run (matrix variants of one
 * job stacked together), an edge per `needs`. Text is rendered as SVG text nodes only.
 *
 * Three things are shown apart, so none hides another: the status is the node's outline
 * colour (a failed node stays red when selected), the selection is a tinted fill with a
 * bar and a bold name, and keyboard focus is a separate ring around the node. A cut name
 * is shown whole in a label under the node while it is hovered or focused.
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
  const [active, setActive] = useState<string | null>(null);
  const tipText = useRef<SVGTextElement>(null);
  const [tipWidth, setTipWidth] = useState(W);
  const stages = new Map<number, JobRun[]>();
  for (const run of runs) stages.set(run.stage, [...(stages.get(run.stage) ?? []), run]);
  const columns = [...stages.keys()].sort((a, b) => a - b);
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((stage, col) => {
    // Group matrix variants of one job next to each other.
    const list = [...stages.get(stage)!].sort((a, b) => a.job.localeCompare(b.job) || a.id - b.id);
    list.forEach((run, row) =>
      position.set(run.name, { x: col * (W + GAP_X) + 8, y: row * (H + GAP_Y) + 8 }),
    );
  });
  const tipFor = active !== null && nodeLabel(active) !== active ? active : null;
  const tipAt = tipFor !== null ? position.get(tipFor) : undefined;
  useLayoutEffect(() => {
    const measured = tipText.current?.getComputedTextLength();
    if (measured) setTipWidth(Math.max(W, Math.ceil(measured) + 20));
  }, [tipFor]);
  let width = columns.length * (W + GAP_X);
  let height = Math.max(...columns.map((s) => stages.get(s)!.length), 1) * (H + GAP_Y) + 12;
  if (tipAt) {
    width = Math.max(width, tipAt.x + tipWidth + 8);
    height = Math.max(height, tipAt.y + H + 4 + TIP_H + 8);
  }
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
        const isSelected = selected === run.id;
        const enter = (): void => setActive(run.name);
        const leave = (): void => setActive((a) => (a === run.name ? null : a));
        return (
          <g
            key={run.id}
            className={`node node-${kind}${isSelected ? ' selected' : ''}`}
            transform={`translate(${p.x},${p.y})`}
            tabIndex={0}
            role="button"
            aria-pressed={isSelected}
            aria-label={`${run.name}: ${run.outcome ?? run.status}`}
            data-jobrun={run.name}
            onClick={() => onSelect(run)}
            onFocus={enter}
            onBlur={leave}
            onMouseEnter={enter}
            onMouseLeave={leave}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                onSelect(run);
              }
            }}
          >
            <title>{run.name}</title>
            <rect className="focus-ring" x={-5} y={-5} width={W + 10} height={H + 10} rx={9} />
            <rect className="box" width={W} height={H} rx={6} />
            {isSelected && (
              <rect className="selection-mark" x={3} y={7} width={4} height={H - 14} rx={2} />
            )}
            <text x={14} y={18} className="node-name">
              {nodeLabel(run.name)}
            </text>
            <text x={14} y={34} className="node-meta">
              {`${run.outcome ?? run.status} · ${duration(last?.startedAt ?? null, last?.finishedAt ?? null)}`}
            </text>
          </g>
        );
      })}
      {tipFor !== null && tipAt && (
        <g
          className="node-tip"
          transform={`translate(${tipAt.x},${tipAt.y + H + 4})`}
          aria-hidden="true"
          data-tip-for={tipFor}
        >
          <rect width={tipWidth} height={TIP_H} rx={4} />
          <text ref={tipText} x={10} y={17}>
            {tipFor}
          </text>
        </g>
      )}
    </svg>
  );
}
