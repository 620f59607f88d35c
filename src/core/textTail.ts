/**
 * A growing text file read as it grows (the trainer's log): each `read()` returns what was appended
 * since the last, in bounded slices; a file that was cut back or replaced is read again from its
 * start (`reset`). Only a regular file is opened (a FIFO would block Node's pool).
 */
import { promises as fs } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface TextChunk {
  text: string;
  /** the file was cut back or replaced: what was read before is void */
  reset: boolean;
}

export class TextTail {
  private offset = 0;
  private identity: string | undefined;
  private decoder = new StringDecoder('utf8');

  constructor(readonly path: string, private readonly maxBytesPerRead = 1 << 20) {}

  async read(): Promise<TextChunk> {
    let stat;
    try {
      stat = await fs.stat(this.path);
    } catch {
      return { text: '', reset: false }; // not there yet
    }
    if (!stat.isFile()) return { text: '', reset: false };
    const identity = `${stat.dev}:${stat.ino}`;
    let reset = false;
    if ((this.identity !== undefined && identity !== this.identity) || stat.size < this.offset) {
      this.offset = 0;
      this.decoder = new StringDecoder('utf8');
      reset = true;
    }
    this.identity = identity;
    if (stat.size === this.offset) return { text: '', reset };
    const handle = await fs.open(this.path, 'r');
    try {
      const length = Math.min(stat.size - this.offset, this.maxBytesPerRead);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.offset);
      this.offset += bytesRead;
      // a multi-byte character cut by the slice waits for its other bytes
      return { text: this.decoder.write(buffer.subarray(0, bytesRead)), reset };
    } finally {
      await handle.close();
    }
  }
}
