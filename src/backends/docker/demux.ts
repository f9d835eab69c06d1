/**
 * Splits Docker's multiplexed attach/exec stream (Tty: false) into stdout and stderr
 * without copying payloads: each frame is an 8-byte header (stream id, 3 zero bytes,
 * big-endian uint32 length) followed by the payload. Frames may be split anywhere
 * across chunks; partial headers and payloads are carried over.
 */
export class StreamDemuxer {
  private header = Buffer.alloc(8);
  private headerFill = 0;
  private remaining = 0;
  private stream = 1;

  constructor(
    private readonly onStdout: (chunk: Buffer) => void,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(8 - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < 8) return;
        this.headerFill = 0;
        this.stream = this.header[0] ?? 1;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const payload = chunk.subarray(offset, offset + take);
      offset += take;
      this.remaining -= take;
      if (this.stream === 2) this.onStderr(payload);
      else this.onStdout(payload);
    }
  }
}
