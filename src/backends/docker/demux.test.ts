import { describe, expect, it } from 'vitest';
import { StreamDemuxer } from './demux.ts';

function frame(stream: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('StreamDemuxer', () => {
  it('separates stdout and stderr however the frames are split', () => {
    const wire = Buffer.concat([
      frame(1, 'out one\n'),
      frame(2, 'err\n'),
      frame(1, 'out two'),
      frame(2, ''),
    ]);
    for (let size = 1; size <= wire.length; size++) {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const demux = new StreamDemuxer(
        (b) => out.push(b),
        (b) => err.push(b),
      );
      for (let i = 0; i < wire.length; i += size) demux.push(wire.subarray(i, i + size));
      expect(Buffer.concat(out).toString()).toBe('out one\nout two');
      expect(Buffer.concat(err).toString()).toBe('err\n');
    }
  });

  it('passes binary payloads through byte for byte', () => {
    const bytes = Buffer.from([0, 255, 0xe2, 0x82, 0xac, 10, 13, 0]);
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 4);
    const out: Buffer[] = [];
    new StreamDemuxer(
      (b) => out.push(b),
      () => undefined,
    ).push(Buffer.concat([header, bytes]));
    expect(Buffer.concat(out)).toEqual(bytes);
  });
});
