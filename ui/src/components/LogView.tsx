import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, decode, download, follow, type LogChunk } from '../api.ts';
import { parseAnsi, styleClasses, type Style } from '../ansi.ts';

/** How much of a log is read at a time: the tail first, more when scrolled to the top. */
const WINDOW = 256 * 1024;
const LINE_HEIGHT = 20;
const OVERSCAN = 40;

export interface Line {
  text: string;
  time: number;
}

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

interface RangeAnswer {
  from: number;
  size: number;
  lastId: number;
  chunks: LogChunk[];
}

/** Splits decoded chunks into lines; a trailing partial line stays open for the next chunk. */
export function appendChunks(
  lines: Line[],
  chunks: { text: string; time: number }[],
  open: boolean,
): { lines: Line[]; open: boolean } {
  const out = lines.slice();
  let isOpen = open;
  for (const chunk of chunks) {
    const parts = chunk.text.split('\n');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const isLast = i === parts.length - 1;
      const previous = out.at(-1);
      if (i === 0 && isOpen && previous)
        out[out.length - 1] = { ...previous, text: previous.text + part };
      else if (!(isLast && part === '')) out.push({ text: part, time: chunk.time });
      isOpen = isLast ? part !== '' || (i === 0 && isOpen) : false;
    }
  }
  return { lines: out, open: isOpen };
}

function strip(text: string): string {
  return parseAnsi(text)
    .segments.map((s) => s.text)
    .join('');
}

/**
 * A step's log: opens on its tail (a 100 MiB log loads in one small read), renders only
 * the lines in view, reads earlier parts when scrolled to the top, follows live output
 * while the view sticks to the bottom, and searches what is loaded.
 */
export function LogView({ buildId, attemptId, step, live, highlight, lineHref, title }: Props) {
  const [lines, setLines] = useState<Line[]>([]);
  const [from, setFrom] = useState<number | null>(null);
  const [size, setSize] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [query, setQuery] = useState('');
  const [match, setMatch] = useState(0);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });
  const box = useRef<HTMLDivElement>(null);
  const state = useRef({ open: false, loadingEarlier: false, firstPartial: false });
  const decoder = useRef(new TextDecoder());

  // The tail, then the live stream after it.
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setFrom(null);
    setError(null);
    decoder.current = new TextDecoder();
    state.current = { open: false, loadingEarlier: false, firstPartial: false };
    void (async () => {
      try {
        const answer = await api<RangeAnswer>(
          'GET',
          `/api/v1/builds/${buildId}/logs?attempt=${attemptId}&step=${step}&tail=${WINDOW}`,
        );
        const bytes = answer.chunks.map((c) => ({
          text: decoder.current.decode(decode(c.b64), { stream: true }),
          time: c.time,
        }));
        let text = bytes;
        state.current.firstPartial = answer.from > 0;
        if (answer.from > 0 && bytes.length > 0) {
          // Drop the partial first line; it is read with the earlier part.
          const joined = bytes[0]!.text;
          const cut = joined.indexOf('\n');
          text = [{ ...bytes[0]!, text: cut >= 0 ? joined.slice(cut + 1) : '' }, ...bytes.slice(1)];
          const dropped = new TextEncoder().encode(
            cut >= 0 ? joined.slice(0, cut + 1) : joined,
          ).length;
          setFrom(answer.from + dropped);
        } else setFrom(answer.from);
        const next = appendChunks([], text, false);
        state.current.open = next.open;
        setLines(next.lines);
        setSize(answer.size);
        if (!live) return;
        await follow(
          `/api/v1/builds/${buildId}/logs?follow=1&attempt=${attemptId}&step=${step}`,
          (event) => {
            if (event.event !== 'log') return;
            const chunk = JSON.parse(event.data) as LogChunk & { attempt: number; step: number };
            const decoded = decoder.current.decode(decode(chunk.b64), { stream: true });
            setSize((s) => Math.max(s, chunk.offset + decode(chunk.b64).length));
            setLines((current) => {
              const result = appendChunks(
                current,
                [{ text: decoded, time: chunk.time }],
                state.current.open,
              );
              state.current.open = result.open;
              return result.lines;
            });
          },
          abort.signal,
          answer.lastId > 0 ? String(answer.lastId) : undefined,
        );
      } catch (e) {
        if (!abort.signal.aborted) setError((e as Error).message);
      }
    })();
    return () => abort.abort();
  }, [buildId, attemptId, step, live]);

  const loadEarlier = useCallback(async () => {
    if (from === null || from === 0 || state.current.loadingEarlier) return;
    state.current.loadingEarlier = true;
    try {
      const start = Math.max(0, from - WINDOW);
      const answer = await api<RangeAnswer>(
        'GET',
        `/api/v1/builds/${buildId}/logs?attempt=${attemptId}&step=${step}&from=${start}&to=${from}`,
      );
      const local = new TextDecoder();
      let text = answer.chunks.map((c) => ({
        text: local.decode(decode(c.b64), { stream: true }),
        time: c.time,
      }));
      let newFrom = start;
      if (start > 0 && text.length > 0) {
        const first = text[0]!.text;
        const cut = first.indexOf('\n');
        newFrom =
          start + new TextEncoder().encode(cut >= 0 ? first.slice(0, cut + 1) : first).length;
        text = [{ ...text[0]!, text: cut >= 0 ? first.slice(cut + 1) : '' }, ...text.slice(1)];
      }
      const earlier = appendChunks([], text, false).lines;
      setLines((current) => [...earlier, ...current]);
      setFrom(newFrom);
      if (box.current) box.current.scrollTop += earlier.length * LINE_HEIGHT;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      state.current.loadingEarlier = false;
    }
  }, [buildId, attemptId, step, from]);

  // Follow: stick to the bottom while following.
  useEffect(() => {
    if (following && box.current && highlight === null)
      box.current.scrollTop = box.current.scrollHeight;
  }, [lines, following, highlight]);

  // A linked line: scroll it into view once it is loaded.
  useEffect(() => {
    if (highlight !== null && box.current && from === 0 && highlight <= lines.length) {
      box.current.scrollTop = Math.max(0, (highlight - 3) * LINE_HEIGHT);
      setFollowing(false);
    }
  }, [highlight, from, lines.length]);

  const onScroll = (): void => {
    const el = box.current;
    if (!el) return;
    setViewport({ top: el.scrollTop, height: el.clientHeight });
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_HEIGHT * 2;
    if (!atBottom && following) setFollowing(false);
    if (atBottom && !following && live) setFollowing(true);
    if (el.scrollTop < LINE_HEIGHT * 5) void loadEarlier();
  };

  const matches = useMemo(() => {
    if (!query) return [];
    const needle = query.toLowerCase();
    const out: number[] = [];
    lines.forEach((line, i) => {
      if (strip(line.text).toLowerCase().includes(needle)) out.push(i);
    });
    return out;
  }, [lines, query]);

  const jump = (delta: number): void => {
    if (matches.length === 0 || !box.current) return;
    const next = (match + delta + matches.length) % matches.length;
    setMatch(next);
    setFollowing(false);
    box.current.scrollTop = Math.max(
      0,
      matches[next]! * LINE_HEIGHT - box.current.clientHeight / 2,
    );
  };

  const first = Math.max(0, Math.floor(viewport.top / LINE_HEIGHT) - OVERSCAN);
  const last = Math.min(
    lines.length,
    Math.ceil((viewport.top + viewport.height) / LINE_HEIGHT) + OVERSCAN,
  );
  const known = from === 0;
  const matchSet = new Set(matches);

  // ANSI state carries over between lines; compute the start style of the first shown line cheaply.
  let style: Style | undefined;
  const rendered = [];
  for (let i = first; i < last; i++) {
    const line = lines[i]!;
    const parsed = parseAnsi(line.text, style);
    style = parsed.end;
    const number = i + 1;
    rendered.push(
      <div
        key={i}
        className={`line${matchSet.has(i) ? ' match' : ''}${matches[match] === i ? ' current' : ''}${known && highlight === number ? ' highlighted' : ''}`}
        style={{ top: i * LINE_HEIGHT }}
      >
        {known ? (
          <a className="ln" href={lineHref(number)} aria-label={`line ${number}`}>
            {number}
          </a>
        ) : (
          <span className="ln">…{number}</span>
        )}
        {timestamps && (
          <span className="ts">{new Date(line.time).toISOString().slice(11, 23)}</span>
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
              setMatch(0);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') jump(e.shiftKey ? -1 : 1);
            }}
            aria-label="Search the log"
          />
        </label>
        <span className="muted" aria-live="polite">
          {query ? `${matches.length ? match + 1 : 0} of ${matches.length}` : ''}
        </span>
        <button type="button" onClick={() => jump(-1)} disabled={matches.length === 0}>
          Previous
        </button>
        <button type="button" onClick={() => jump(1)} disabled={matches.length === 0}>
          Next
        </button>
        <label>
          <input
            type="checkbox"
            checked={timestamps}
            onChange={(e) => setTimestamps(e.target.checked)}
          />{' '}
          Timestamps
        </label>
        <button type="button" aria-pressed={following} onClick={() => setFollowing(!following)}>
          {following ? 'Following' : 'Follow'}
        </button>
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
          {from !== null && from > 0
            ? `, showing the last ${((size - from) / 1024).toFixed(0)} KiB (scroll up for more)`
            : ''}
        </span>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="log-box" ref={box} onScroll={onScroll} tabIndex={0} data-lines={lines.length}>
        <div className="log-inner" style={{ height: lines.length * LINE_HEIGHT }}>
          {rendered}
        </div>
      </div>
    </section>
  );
}
