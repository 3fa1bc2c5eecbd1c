// The generator's deterministic randomness (a seeded RNG, an AES-CTR key
// stream for content) and the paths, names and authors it draws from.
import crypto from 'node:crypto';

export const sha256 = (s: string | Uint8Array) => crypto.createHash('sha256').update(s).digest();

/** sfc32: small, fast and seedable; only for choices (sizes, paths, merges), never for content. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: Buffer) {
    this.a = seed.readUInt32BE(0);
    this.b = seed.readUInt32BE(4);
    this.c = seed.readUInt32BE(8);
    this.d = seed.readUInt32BE(12);
    for (let i = 0; i < 16; i++) this.next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * An AES-128-CTR keystream read front to back. Both passes over the objects
 * read it in the same order with the same sizes, so they see the same bytes.
 */
export class KeyStream {
  private cipher: crypto.Cipheriv;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private static readonly zeros = Buffer.alloc(1 << 20);
  /** The keystream from byte `offset` on: AES-CTR's counter block is the big-endian block number. */
  constructor(key: Buffer, offset = 0) {
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
    this.cipher = crypto.createCipheriv('aes-128-ctr', key.subarray(0, 16), iv);
    if (offset % 16) this.cipher.update(Buffer.alloc(offset % 16));
  }
  /** Fills `out` with the next out.length bytes. */
  fill(out: Buffer): void {
    let o = 0;
    while (o < out.length) {
      if (this.pos === this.buf.length) {
        this.buf = this.cipher.update(KeyStream.zeros);
        this.pos = 0;
      }
      const n = Math.min(out.length - o, this.buf.length - this.pos);
      this.buf.copy(out, o, this.pos, this.pos + n);
      o += n;
      this.pos += n;
    }
  }
}

// 16 symbols: 4 bits of entropy a byte, so zstd roughly halves these objects.
export const TEXT_ALPHABET = Buffer.from('etaoin shrdlu\n,.');

export const DIRS = ['tracks', 'stems/drums', 'stems/bass', 'stems/keys', 'scores', 'samples/loops', 'mix', 'notes'];
export const EXTS = ['mid', 'wav', 'musicxml', 'json', 'txt', 'muse'];
// Two- and three-byte UTF-8, a four-byte emoji and combining-free precomposed letters.
export const NON_ASCII_DIRS = ['chansons/été', 'partitions/mélodie', '楽譜/第一楽章', 'Ünïcödé/straße', 'песни', 'emoji/🎵'];
export const AUTHORS = ['Ada Lovelace <ada@example.com>', 'Clara Schumann <clara@example.com>', 'Ryuichi Sakamoto <ryu@example.com>', 'Björk Guðmundsdóttir <bjork@example.com>'];

export function isoMinute(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function hex(label: string, salt: string, index: number): string {
  return sha256(`muse-gen ${label} ${salt} ${index}`).toString('hex');
}

/** Share `total` over `parts` as evenly as integers allow; part i's size. */
export function evenShare(total: number, parts: number, i: number): number {
  return Math.floor(((i + 1) * total) / parts) - Math.floor((i * total) / parts);
}

/** The paths of a manifest as a set with O(1) random choice and removal. */
export class PathSet {
  private list: string[] = [];
  private at = new Map<string, number>();
  constructor(private manifest: Map<string, string>) {
    for (const p of manifest.keys()) this.add(p);
  }
  get size(): number {
    return this.list.length;
  }
  has(p: string): boolean {
    return this.at.has(p);
  }
  pick(rng: Rng): string {
    return this.list[rng.int(this.list.length)]!;
  }
  private add(p: string): void {
    this.at.set(p, this.list.length);
    this.list.push(p);
  }
  set(p: string, objectId: string): void {
    if (!this.at.has(p)) this.add(p);
    this.manifest.set(p, objectId);
  }
  delete(p: string): void {
    const i = this.at.get(p)!;
    const last = this.list.pop()!;
    if (last !== p) {
      this.list[i] = last;
      this.at.set(last, i);
    }
    this.at.delete(p);
    this.manifest.delete(p);
  }
}

/** Everything about one object except its bytes, which are regenerated on demand. */
