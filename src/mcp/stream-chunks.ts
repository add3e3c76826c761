/**
 * What a streaming call keeps of its chunks: only what its answer may need, in bytes
 * bounded per call and across all calls of the process. A node decides how many chunks
 * of what size it sends; holding them all (10,000 of any size) let one stream of 2,000
 * half-megabyte frames take mesh-mcp to a gigabyte.
 *
 * The chunks are the result only when the final frame has none; otherwise the answer
 * shows at most a short summary of the first ones (tools.ts). So chunks are kept while
 * they fit; past the bound the rest are counted, not kept, and a call whose answer needed
 * them all ends with an error that says so (the stream itself runs to its end: its final
 * frame may well carry the result).
 */

/** Bytes of chunks one call keeps. */
export const CHUNKS_PER_CALL_MAX = 8 * 1024 * 1024;
/** Bytes of chunks all calls of this process keep together. */
export const CHUNKS_TOTAL_MAX = 64 * 1024 * 1024;
/** Chunks one call keeps, whatever their size. */
export const CHUNKS_COUNT_MAX = 10_000;

let keptInAll = 0;

/** Bytes of chunks all running calls keep now (for tests and the status page). */
export const chunksKeptInAll = (): number => keptInAll;

/** About the JSON size of a chunk (strings by length: no second copy of a big one). */
function sizeOf(chunk: unknown): number {
  if (typeof chunk === "string") return chunk.length + 2;
  if (chunk === undefined) return 0;
  try {
    return JSON.stringify(chunk)?.length ?? 0;
  } catch {
    return 0;
  }
}

export class KeptChunks {
  readonly chunks: unknown[] = [];
  /** Chunks seen but not kept (over a bound). */
  notKept = 0;
  /** Which bound was passed, once one was. */
  overflow?: string;
  private bytes = 0;

  constructor(private readonly perCall = CHUNKS_PER_CALL_MAX, private readonly total = CHUNKS_TOTAL_MAX) {}

  add(chunk: unknown): void {
    if (this.overflow) {
      this.notKept++;
      return;
    }
    const n = sizeOf(chunk);
    if (this.chunks.length >= CHUNKS_COUNT_MAX) this.overflow = `${CHUNKS_COUNT_MAX} chunks`;
    else if (this.bytes + n > this.perCall) this.overflow = `${this.perCall} bytes of chunks for one call`;
    else if (keptInAll + n > this.total) this.overflow = `${this.total} bytes of chunks for all calls of this mesh-mcp`;
    if (this.overflow) {
      this.notKept++;
      return;
    }
    this.chunks.push(chunk);
    this.bytes += n;
    keptInAll += n;
  }

  /** The call ended: its chunks no longer count. */
  release(): void {
    keptInAll -= this.bytes;
    this.bytes = 0;
  }
}
