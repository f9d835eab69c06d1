/**
 * bench/log-search: the server-side search of a step's whole log (`LogStore.search`, what
 * `GET /api/v1/builds/:id/logs/search` runs) over a log of MIB MiB stored as the agent
 * stores it (256 KiB chunks) in the embedded store on disk. Baseline in the same run:
 * reading the same chunks with the same paged queries and doing nothing with them, so the
 * ratio is the cost of scanning. Also reports how much the heap grew (the log is never
 * held whole) and the longest the event loop was blocked (other requests wait that long).
 * Run: npm run bench:log-search [-- RUNS MIB]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SEARCH_PAGE } from '../../src/store/logs.ts';
import { openSqliteStore } from '../../src/store/open.ts';
import { machine, median, saveResult } from '../lib.ts';

const RUNS = Number(process.argv[2] ?? 5);
const MIB = Number(process.argv[3] ?? 100);
const CHUNK = 256 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'slipway-bench-search-'));
const store = await openSqliteStore(join(dir, 'slipway.db'));
try {
  // Lines like a build's, a rare needle near the end (the search has to read everything).
  const line = (i: number): string => `2026-11-29T12:00:00Z step output line ${i} with some text\n`;
  let text = '';
  let offset = 0;
  let seq = 0;
  let n = 0;
  while (offset < MIB * 1024 * 1024) {
    while (text.length < CHUNK) text += line(n++);
    const data = Buffer.from(text.slice(0, CHUNK));
    text = text.slice(CHUNK);
    if (offset + CHUNK >= MIB * 1024 * 1024) data.write('NEEDLE', data.length - 100);
    await store.logs.append({
      buildId: 1,
      attemptId: 1,
      step: 0,
      seq: seq++,
      offset,
      stream: 'stdout',
      data,
    });
    offset += data.length;
  }

  /** The same paged reads (and yields) as the search, without scanning: the baseline. */
  const readAll = async (): Promise<number> => {
    let bytes = 0;
    for (let after = -1; ;) {
      const rows = await store.db
        .selectFrom('log_chunks')
        .select(['offset', 'data'])
        .where('attempt_id', '=', 1)
        .where('step', '=', 0)
        .where('offset', '>', after)
        .orderBy('offset')
        .limit(SEARCH_PAGE)
        .execute();
      for (const row of rows) bytes += row.data.length;
      if (rows.length < SEARCH_PAGE) break;
      after = Number(rows.at(-1)!.offset);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return bytes;
  };

  const reads: number[] = [];
  const searches: number[] = [];
  let heapGrowth = 0;
  let maxBlockMs = 0;
  let found = 0;
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    const bytes = await readAll();
    reads.push(performance.now() - t);
    if (bytes !== offset) throw new Error(`read ${bytes} of ${offset} bytes`);
    global.gc?.();
    const heap = process.memoryUsage().heapUsed;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    t = performance.now();
    const result = await store.logs.search(1, 0, 'needle', 100);
    searches.push(performance.now() - t);
    delay.disable();
    maxBlockMs = Math.max(maxBlockMs, delay.max / 1e6);
    heapGrowth = Math.max(heapGrowth, process.memoryUsage().heapUsed - heap);
    found = result.matches.length;
    if (found !== 1 || result.scanned !== offset) throw new Error('the search missed the needle');
  }
  const read = median(reads);
  const search = median(searches);
  const result = {
    date: new Date().toISOString(),
    machine: await machine(),
    mib: MIB,
    runs: RUNS,
    readMs: Math.round(read),
    searchMs: Math.round(search),
    searchMiBps: Math.round((MIB / search) * 1000),
    ratioToRead: Number((search / read).toFixed(2)),
    heapGrowthMiB: Number((heapGrowth / 1048576).toFixed(1)),
    maxEventLoopBlockMs: Number(maxBlockMs.toFixed(1)),
  };
  console.log(result);
  saveResult('log-search', result);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
