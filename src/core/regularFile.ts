/**
 * Reading a file from a run folder: only a regular file of a bounded size is opened. A FIFO would
 * block one of Node's few pool threads until a writer came (and with four of them, all file access
 * of the extension host); a device or a huge file is not what a run folder holds.
 */
import { promises as fs } from 'node:fs';

export class NotARegularFile extends Error {
  constructor(readonly path: string) {
    super(`${path} is not a regular file (a folder, FIFO or device?); it was not read`);
  }
}

export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  const stat = await fs.stat(path);
  if (!stat.isFile()) throw new NotARegularFile(path);
  if (stat.size > maxBytes) throw new Error(`${path} is ${Math.round(stat.size / 2 ** 20)} MiB, more than such a file can be (${Math.round(maxBytes / 2 ** 20)} MiB); it was not read`);
  return fs.readFile(path, 'utf8');
}
