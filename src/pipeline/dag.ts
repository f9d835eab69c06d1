/**
 * The job graph: cycle detection and stages. Iterative, so a huge or hostile graph
 * cannot overflow the stack.
 */

/** Every elementary cycle found by a depth-first walk, each as a list of nodes. */
export function findCycles(
  nodes: readonly string[],
  edges: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[][] = [];
  const seen = new Set<string>();
  for (const start of nodes) {
    if (state.has(start)) continue;
    const stack: { node: string; next: number }[] = [{ node: start, next: 0 }];
    const onPath: string[] = [start];
    state.set(start, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const targets = edges.get(frame.node) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++]!;
        const s = state.get(target);
        if (s === 'visiting') {
          const cycle = onPath.slice(onPath.indexOf(target));
          const key = canonical(cycle);
          if (!seen.has(key)) {
            seen.add(key);
            cycles.push(cycle);
          }
        } else if (s === undefined && edges.has(target)) {
          state.set(target, 'visiting');
          stack.push({ node: target, next: 0 });
          onPath.push(target);
        }
      } else {
        state.set(frame.node, 'done');
        stack.pop();
        onPath.pop();
      }
    }
  }
  return cycles;
}

/** A cycle rotated to start at its smallest node, so each is reported once. */
function canonical(cycle: string[]): string {
  let best = 0;
  cycle.forEach((node, i) => {
    if (node < cycle[best]!) best = i;
  });
  return JSON.stringify([...cycle.slice(best), ...cycle.slice(0, best)]);
}

/**
 * The stage of each node: 0 for nodes without needs, else one more than the deepest
 * need. The graph must be acyclic.
 */
export function stages(
  nodes: readonly string[],
  edges: ReadonlyMap<string, readonly string[]>,
): Map<string, number> {
  const result = new Map<string, number>();
  const indegree = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const node of nodes) {
    indegree.set(node, (edges.get(node) ?? []).length);
    for (const need of edges.get(node) ?? []) {
      const list = dependents.get(need) ?? [];
      list.push(node);
      dependents.set(need, list);
    }
  }
  const queue = nodes.filter((n) => indegree.get(n) === 0);
  for (const n of queue) result.set(n, 0);
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const dependent of dependents.get(node) ?? []) {
      result.set(dependent, Math.max(result.get(dependent) ?? 0, (result.get(node) ?? 0) + 1));
      const left = (indegree.get(dependent) ?? 1) - 1;
      indegree.set(dependent, left);
      if (left === 0) queue.push(dependent);
    }
  }
  return result;
}
