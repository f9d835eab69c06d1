import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { download } from '../api.ts';
import { parseAnsi, styleClasses, type Style } from '../ansi.ts';
import { isoWithOffset, logClock, zoneName } from '../format.ts';
import { lineAt, type Line } from '../log-lines.ts';
import { useLogSearch } from './useLogSearch.ts';
import { useLogWindow, type LogTarget } from './useLogWindow.ts';

const LINE_HEIGHT = 20;
const OVERSCAN = 40;
const TAB = 8;
/** Whether long lines wrap: remembered in this browser. */
const WRAP_KEY = 'slipway.log.wrap';

interface Props {
  buildId: number;
  attemptId: number;
  step: number;
  /** Whether the step may still write (follow the live stream). */
  live: boolean;
  highlight: number | null;
  lineHref: (line: number) => string;
  title: string;
}

const shownCache = new WeakMap<Line, string>();

/** A line's text as it is shown: escapes applied, carriage returns drawn. */
export function shownText(line: Line): string {
  let text = shownCache.get(line);
  if (text === undefined) {
    text = parseAnsi(line.text)
      .segments.map((s) => s.text)
      .join('');
    shownCache.set(line, text);
  }
  return text;
}

/** Columns a line takes on screen (tabs to the next stop). */
export function columnsOf(text: string): number {
  let n = 0;
  for (const ch of text) n = ch === '\t' ? (Math.floor(n / TAB) + 1) * TAB : n + 1;
  return n;
}

function readWrap(): boolean {
  try {
    return localStorage.getItem(WRAP_KEY) === '1';
  } catch {
    return false;
  }
}

/**
 * A step's log: opens on its tail (a 100 MiB log loads in one small read), renders only
 * the lines in view, reads more when scrolled to either end, jumps to the start, the end
 * or a search hit anywhere in the log, and follows live output while it shows the end.
 */
export function LogView({ buildId, attemptId, step, live, highlight, lineHref, title }: Props) {
  const log = useLogWindow(buildId, attemptId, step, live);
  const { win } = log;
  const [following, setFollowing] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [wrap, setWrap] = useState(readWrap);
  const [query, setQuery] = useState('');
  const [currentStart, setCurrentStart] = useState<number | null>(null);
  const pendingFirstHit = useRef(false);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });
  const [cols, setCols] = useState(120);
  const box = useRef<HTMLDivElement>(null);
  const inner = useRef<HTMLDivElement>(null);
  const rows = useRef<HTMLDivElement>(null);
  const measure = useRef<HTMLSpanElement>(null);
  const highlightShown = useRef(false);

  const search = useLogSearch({
    buildId,
    attemptId,
    step,
    query,
    win,
    whole: log.whole,
    shown: shownText,
  });
  const currentIndex = search.hits.findIndex((h) => h.lineStart === currentStart);

  // Where each line starts, in rows of LINE_HEIGHT: one row each, or as many as it wraps to.
  const prefix = useMemo(() => {
    if (!wrap) return null;
    const out = new Float64Array(win.lines.length + 1);
    win.lines.forEach((line, i) => {
      out[i + 1] = out[i]! + Math.max(1, Math.ceil(columnsOf(shownText(line)) / cols));
    });
    return out;
  }, [win.lines, wrap, cols]);
  const top = useCallback((i: number): number => (prefix ? prefix[i]! : i) * LINE_HEIGHT, [prefix]);
  const indexAt = (y: number): number => {
    const row = y / LINE_HEIGHT;
    if (!prefix) return Math.floor(row);
    let lo = 0;
    let hi = win.lines.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (prefix[mid]! <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const first = Math.max(0, indexAt(viewport.top) - OVERSCAN);
  const last = Math.min(win.lines.length, indexAt(viewport.top + viewport.height) + 1 + OVERSCAN);

  const centre = useCallback(
    (index: number) => {
      const el = box.current;
      if (!el) return;
      el.scrollTop = Math.max(0, top(index) - el.clientHeight / 2 + LINE_HEIGHT);
      setViewport({ top: el.scrollTop, height: el.clientHeight });
    },
    [top],
  );

  // Geometry through the CSSOM (the CSP forbids style attributes): the scroll height, and
  // where the rendered lines sit in it.
  useLayoutEffect(() => {
    if (inner.current) inner.current.style.height = `${top(win.lines.length)}px`;
    if (rows.current) rows.current.style.transform = `translateY(${top(first)}px)`;
  });

  // Keep or move the scroll position after the window changed.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const change = log.change;
    if (change.kind === 'end') {
      el.scrollTop = el.scrollHeight;
      setFollowing(live);
    } else if (change.kind === 'append' && following && log.atEnd) {
      el.scrollTop = el.scrollHeight;
    } else if (change.kind === 'prepend') {
      el.scrollTop += top(change.added);
    } else if (change.kind === 'offset') {
      const index = lineAt(win, change.offset);
      if (index >= 0) centre(index);
      setFollowing(false);
      return;
    } else return;
    setViewport({ top: el.scrollTop, height: el.clientHeight });
    // Only a new revision of the window moves the view.
  }, [log.revision]);

  // A linked line (?L=N): shown once its number is known.
  useLayoutEffect(() => {
    if (highlight === null || highlightShown.current || win.firstLine === null) return;
    const index = highlight - win.firstLine;
    if (index < 0 || index >= win.lines.length) return;
    highlightShown.current = true;
    setFollowing(false);
    centre(index);
  }, [highlight, win, centre]);

  // Wrapped lines: how many characters fit on a row.
  useLayoutEffect(() => {
    if (!wrap) return;
    const text = rows.current?.querySelector<HTMLElement>('.text');
    const char = (measure.current?.getBoundingClientRect().width ?? 0) / 10;
    if (!text || !char) return;
    const fit = Math.max(10, Math.floor(text.clientWidth / char));
    if (fit !== cols) setCols(fit);
  });
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() =>
      setViewport({ top: el.scrollTop, height: el.clientHeight }),
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const go = useCallback(
    (hit: LogTarget) => {
      setCurrentStart(hit.lineStart);
      setFollowing(false);
      log.show(hit);
    },
    [log],
  );

  // A new query moves to its first hit, once there is one.
  useEffect(() => {
    if (!pendingFirstHit.current || search.hits.length === 0) return;
    pendingFirstHit.current = false;
    go(search.hits[0]!);
  }, [search.hits, go]);

  const jump = (delta: number): void => {
    const n = search.hits.length;
    if (n === 0) return;
    const next = currentIndex < 0 ? (delta > 0 ? 0 : n - 1) : (currentIndex + delta + n) % n;
    go(search.hits[next]!);
  };

  const onScroll = (): void => {
    const el = box.current;
    if (!el) return;
    setViewport({ top: el.scrollTop, height: el.clientHeight });
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_HEIGHT * 2;
    if (!atBottom && following) setFollowing(false);
    if (atBottom && !following && live && log.atEnd) setFollowing(true);
    if (el.scrollTop < LINE_HEIGHT * 5) log.loadEarlier();
    if (atBottom && !log.atEnd) log.loadLater();
  };

  const setWrapRemembered = (value: boolean): void => {
    setWrap(value);
    try {
      localStorage.setItem(WRAP_KEY, value ? '1' : '0');
    } catch {
      // Storage may be off: the toggle still works for this page.
    }
  };

  const needle = query.toLowerCase();
  // ANSI state carries over between lines; the first line shown starts plain.
  let style: Style | undefined;
  const rendered = [];
  for (let i = first; i < last; i++) {
    const line = win.lines[i]!;
    const parsed = parseAnsi(line.text, style);
    style = parsed.end;
    const number = win.firstLine === null ? null : win.firstLine + i;
    const classes = ['line'];
    if (needle && shownText(line).toLowerCase().includes(needle)) classes.push('match');
    if (line.offset === currentStart && query) classes.push('current');
    if (number !== null && number === highlight) classes.push('highlighted');
    rendered.push(
      <div key={line.offset} className={classes.join(' ')} data-line={number ?? undefined}>
        {number !== null ? (
          // Not a tab stop: keyboard users would tab through every line of the log.
          <a className="ln" href={lineHref(number)} tabIndex={-1} aria-label={`line ${number}`}>
            {number}
          </a>
        ) : (
          <span className="ln" title="line number known once the start is loaded or searched">
            …
          </span>
        )}
        {timestamps && (
          <span className="ts" title={isoWithOffset(line.time)}>
            {logClock(line.time)}
          </span>
        )}
        <span className="text">
          {parsed.segments.map((seg, j) =>
            seg.href ? (
              <a
                key={j}
                href={seg.href}
                className={styleClasses(seg.style)}
                rel="noopener noreferrer nofollow"
                target="_blank"
              >
                {seg.text}
              </a>
            ) : (
              <span key={j} className={styleClasses(seg.style)}>
                {seg.text}
              </span>
            ),
          )}
        </span>
      </div>,
    );
  }

  const hit = currentIndex >= 0 ? search.hits[currentIndex] : undefined;
  const size = log.size;
  return (
    <section className="log" aria-label={`Log of ${title}`}>
      <div className="log-tools">
        <label>
          Search{' '}
          <input
            type="search"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setCurrentStart(null);
              pendingFirstHit.current = e.target.value !== '';
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') jump(e.shiftKey ? -1 : 1);
            }}
            aria-label="Search the log"
          />
        </label>
        <span className="muted search-count" aria-live="polite">
          {query
            ? `${currentIndex + 1} of ${search.hits.length}${search.truncated ? '+' : ''}`
            : ''}
        </span>
        {query && (
          <span className="muted search-scope">
            {search.whole ? 'in the whole log' : 'in the loaded part'}
            {search.searching && !search.whole ? ', searching the whole log…' : ''}
            {hit?.line != null ? ` · line ${hit.line}` : ''}
          </span>
        )}
        <button type="button" onClick={() => jump(-1)} disabled={search.hits.length === 0}>
          Previous
        </button>
        <button type="button" onClick={() => jump(1)} disabled={search.hits.length === 0}>
          Next
        </button>
        <button type="button" onClick={log.toStart} aria-label="Jump to the start of the log">
          Start
        </button>
        <button type="button" onClick={log.toEnd} aria-label="Jump to the end of the log">
          End
        </button>
        <label>
          <input
            type="checkbox"
            checked={timestamps}
            onChange={(e) => setTimestamps(e.target.checked)}
          />{' '}
          Timestamps ({zoneName(Date.now())})
        </label>
        <label>
          <input
            type="checkbox"
            checked={wrap}
            onChange={(e) => setWrapRemembered(e.target.checked)}
          />{' '}
          Wrap long lines
        </label>
        {live && (
          <button
            type="button"
            aria-pressed={following}
            onClick={() => {
              if (following) setFollowing(false);
              else log.toEnd();
            }}
          >
            {following ? 'Following' : 'Follow'}
          </button>
        )}
        <button
          type="button"
          onClick={() =>
            void download(
              `/api/v1/builds/${buildId}/logs?attempt=${attemptId}&step=${step}`,
              `build-${buildId}-attempt-${attemptId}-step-${step + 1}.log`,
            )
          }
        >
          Download raw
        </button>
        <span className="muted">
          {(size / 1048576).toFixed(size > 1048576 ? 0 : 2)} MiB
          {!log.whole && log.ready
            ? `, showing ${((win.to - win.from) / 1024).toFixed(0)} KiB of it (scroll for more)`
            : ''}
        </span>
      </div>
      {(log.error ?? search.error) && (
        <p role="alert" className="error">
          {log.error ?? search.error}
        </p>
      )}
      <div
        className={`log-box${wrap ? ' wrap' : ''}`}
        ref={box}
        onScroll={onScroll}
        tabIndex={0}
        data-lines={win.lines.length}
        data-from={win.from}
      >
        <span className="log-measure" ref={measure} aria-hidden="true">
          {'0'.repeat(10)}
        </span>
        <div className="log-inner" ref={inner}>
          <div className="log-rows" ref={rows}>
            {rendered}
          </div>
        </div>
      </div>
    </section>
  );
}
