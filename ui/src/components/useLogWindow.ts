/**
 * The part of a step's log the viewer holds: a window of its bytes that opens on the tail,
 * grows at either end as the reader scrolls, can be moved to the start, the end or any byte
 * offset (a search hit), and takes live output while it reaches the end.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react';
import { api, decode, follow, type LogChunk, type LogWindowAnswer } from '../api.ts';
import {
  appendPieces,
  EMPTY_WINDOW,
  lineAt,
  prepend,
  toPieces,
  windowOf,
  type LogWindow,
} from '../log-lines.ts';

/** How much of a log is read at a time. */
export const WINDOW = 256 * 1024;

/** What the last change did, so the view can keep or move its scroll position. */
export type Change =
  | { kind: 'none' }
  | { kind: 'end' }
  | { kind: 'append' }
  | { kind: 'prepend'; added: number }
  | { kind: 'offset'; offset: number };

type RangeAnswer = LogWindowAnswer;

interface Model {
  win: LogWindow;
  size: number;
  change: Change;
  revision: number;
  /** Bumped when the window is replaced: answers for an older window are dropped. */
  generation: number;
  /** Decodes the bytes at the window's end (a character may be split there). */
  decoder: TextDecoder;
  error: string | null;
  ready: boolean;
}

export interface LogTarget {
  /** Offset of the line to show. */
  lineStart: number;
  /** Its line number, when known. */
  line: number | null;
}

export interface LogWindowApi {
  win: LogWindow;
  size: number;
  change: Change;
  revision: number;
  error: string | null;
  ready: boolean;
  /** The window holds the log's last byte. */
  atEnd: boolean;
  /** The window holds the whole log. */
  whole: boolean;
  loadEarlier: () => void;
  loadLater: () => void;
  toStart: () => void;
  toEnd: () => void;
  show: (target: LogTarget) => void;
}

function bytesOf(chunks: LogChunk[]): { offset: number; time: number; bytes: Uint8Array }[] {
  return chunks.map((c) => ({ offset: c.offset, time: c.time, bytes: decode(c.b64) }));
}

/** The bytes of `chunks` from offset `to` on (what a window that ends at `to` lacks). */
function after(
  chunks: { offset: number; time: number; bytes: Uint8Array }[],
  to: number,
): { offset: number; time: number; bytes: Uint8Array }[] {
  return chunks
    .filter((c) => c.offset + c.bytes.length > to)
    .map((c) =>
      c.offset >= to ? c : { ...c, offset: to, bytes: c.bytes.subarray(to - c.offset) },
    );
}

function endOf(answer: RangeAnswer, start: number): number {
  return answer.chunks.reduce((end, c) => Math.max(end, c.offset + decode(c.b64).length), start);
}

export function useLogWindow(
  buildId: number,
  attemptId: number,
  step: number,
  live: boolean,
): LogWindowApi {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const model = useRef<Model>({
    win: EMPTY_WINDOW,
    size: 0,
    change: { kind: 'none' },
    revision: 0,
    generation: 0,
    decoder: new TextDecoder(),
    error: null,
    ready: false,
  });
  const busy = useRef({ earlier: false, later: false });
  const base = `/api/v1/builds/${buildId}/logs?attempt=${attemptId}&step=${step}`;

  const commit = useCallback((next: Partial<Model>) => {
    const m = model.current;
    model.current = { ...m, ...next, revision: m.revision + 1 };
    rerender();
  }, []);

  const fail = useCallback(
    (e: unknown) => commit({ error: (e as Error).message, change: { kind: 'none' } }),
    [commit],
  );

  /** Replaces the window with the bytes [start, to); `to` omitted reads to the end. */
  const load = useCallback(
    async (query: string, change: (win: LogWindow) => Change, target?: LogTarget) => {
      const generation = model.current.generation + 1;
      model.current = { ...model.current, generation };
      const answer = await api<RangeAnswer>('GET', `${base}&${query}`);
      if (model.current.generation !== generation) return answer;
      const decoder = new TextDecoder();
      const start = answer.from;
      let win = windowOf(toPieces(bytesOf(answer.chunks), decoder), start, endOf(answer, start));
      if (target && target.line !== null) {
        const index = lineAt(win, target.lineStart);
        if (index >= 0) win = { ...win, firstLine: target.line - index };
      }
      commit({ win, decoder, size: answer.size, change: change(win), error: null, ready: true });
      return answer;
    },
    [base, commit],
  );

  const loadEarlier = useCallback(() => {
    const { win, generation } = model.current;
    if ((win.from === 0 && !win.partialFirst) || busy.current.earlier) return;
    busy.current.earlier = true;
    const start = Math.max(0, win.from - WINDOW);
    // One byte more in front: it tells whether `start` begins a line.
    const first = start > 0 ? start - 1 : 0;
    api<RangeAnswer>('GET', `${base}&from=${first}&to=${win.from}`)
      .then((answer) => {
        const m = model.current;
        if (m.generation !== generation) return;
        const earlier = windowOf(
          toPieces(bytesOf(answer.chunks), new TextDecoder()),
          first,
          m.win.from,
        );
        const { window, added } = prepend(m.win, earlier);
        commit({ win: window, change: { kind: 'prepend', added } });
      })
      .catch(fail)
      .finally(() => (busy.current.earlier = false));
  }, [base, commit, fail]);

  const loadLater = useCallback(() => {
    const { win, size, generation } = model.current;
    if (win.to >= size || busy.current.later) return;
    busy.current.later = true;
    api<RangeAnswer>('GET', `${base}&from=${win.to}&to=${win.to + WINDOW}`)
      .then((answer) => {
        const m = model.current;
        if (m.generation !== generation) return;
        const fresh = after(bytesOf(answer.chunks), m.win.to);
        const next = appendPieces(m.win.lines, toPieces(fresh, m.decoder), m.win.open);
        commit({
          win: { ...m.win, lines: next.lines, open: next.open, to: endOf(answer, m.win.to) },
          size: Math.max(m.size, answer.size),
          change: { kind: 'append' },
        });
      })
      .catch(fail)
      .finally(() => (busy.current.later = false));
  }, [base, commit, fail]);

  const toEnd = useCallback(() => {
    load(`tail=${WINDOW}`, () => ({ kind: 'end' })).catch(fail);
  }, [load, fail]);

  const toStart = useCallback(() => {
    load(`from=0&to=${WINDOW}`, () => ({ kind: 'offset', offset: 0 })).catch(fail);
  }, [load, fail]);

  const show = useCallback(
    (target: LogTarget) => {
      const m = model.current;
      const index = lineAt(m.win, target.lineStart);
      if (index >= 0) {
        const firstLine = m.win.firstLine ?? (target.line !== null ? target.line - index : null);
        commit({
          win: { ...m.win, firstLine },
          change: { kind: 'offset', offset: target.lineStart },
        });
        return;
      }
      const start = Math.max(0, target.lineStart - WINDOW / 2);
      const first = start > 0 ? start - 1 : 0;
      load(
        `from=${first}&to=${target.lineStart + WINDOW / 2}`,
        () => ({ kind: 'offset', offset: target.lineStart }),
        target,
      ).catch(fail);
    },
    [commit, load, fail],
  );

  // Open on the tail; then, while the step runs, follow its output.
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      try {
        const answer = await load(`tail=${WINDOW}`, () => ({ kind: 'end' }));
        if (!live || abort.signal.aborted) return;
        await follow(
          `${base}&follow=1`,
          (event) => {
            if (event.event !== 'log') return;
            const chunk = JSON.parse(event.data) as LogChunk;
            const bytes = decode(chunk.b64);
            const m = model.current;
            const size = Math.max(m.size, chunk.offset + bytes.length);
            if (chunk.offset > m.win.to || chunk.offset + bytes.length <= m.win.to) {
              // Not next to the window's end: the window is elsewhere, or missed some
              // output (read it when the reader scrolls there).
              if (size !== m.size) commit({ size, change: { kind: 'none' } });
              return;
            }
            const rest = bytes.subarray(m.win.to - chunk.offset);
            const next = appendPieces(
              m.win.lines,
              toPieces([{ offset: m.win.to, time: chunk.time, bytes: rest }], m.decoder),
              m.win.open,
            );
            commit({
              win: { ...m.win, lines: next.lines, open: next.open, to: m.win.to + rest.length },
              size,
              change: { kind: 'append' },
            });
          },
          abort.signal,
          answer.lastId > 0 ? String(answer.lastId) : undefined,
        );
      } catch (e) {
        if (!abort.signal.aborted) fail(e);
      }
    })();
    return () => abort.abort();
    // Only a new step reloads: `live` turning false must not move the reader (see below).
  }, [base]);

  // When the step ends, read what the stream may not have delivered yet, and the final size.
  const wasLive = useRef(live);
  useEffect(() => {
    if (wasLive.current && !live) {
      api<RangeAnswer>('GET', `${base}&tail=0`)
        .then((answer) => {
          commit({ size: Math.max(model.current.size, answer.size), change: { kind: 'none' } });
          loadLater();
        })
        .catch(fail);
    }
    wasLive.current = live;
  }, [live, base, commit, loadLater, fail]);

  const m = model.current;
  const atEnd = m.win.to >= m.size;
  return {
    win: m.win,
    size: m.size,
    change: m.change,
    revision: m.revision,
    error: m.error,
    ready: m.ready,
    atEnd,
    whole: atEnd && m.win.from === 0 && !m.win.partialFirst,
    loadEarlier,
    loadLater,
    toStart,
    toEnd,
    show,
  };
}
