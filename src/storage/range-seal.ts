// Seals over byte ranges of a bundle (docs/design/bundle-index.md, "The bytes stored are
// the bytes checked"). The plan checks a chunk's objects on the bytes it read
// and seals those bytes; a chunk that reads the range again later stores it
// only if the seal still matches. A pusher can write its own bundle key again
// after the plan (it holds the upload's credentials), so what a chunk reads is
// a claim, and the seal is what turns it back into the checked bytes.
//
// Why a keyed MAC and not sha256: content addressing is a proof, and the
// common path hashes no object new to the store (bundle-format.md, Trust). An
// AES-256-GCM tag over the range (the range as additional data, nothing
// encrypted: GMAC) costs ≈ 1/10 of a sha256 pass here (≈ 15–20 GB/s against
// ≈ 1.9 GB/s), and with a key the pusher never sees — one random key per
// plan, kept in the run's history, which only operators read — it cannot be
// forged for other bytes. One nonce per chunk index, so no (key, nonce) pair
// seals two ranges.
import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';

/** A fresh key for one plan's seals (base64, 32 bytes). */
export function newSealKey(): string {
  return randomBytes(32).toString('base64');
}

/** The seal of `bytes` as chunk `index` of a plan sealed with `key` (base64, 16 bytes). */
export function sealRange(key: string, index: number, bytes: Uint8Array): string {
  const cipher = createCipheriv(ALGORITHM, Buffer.from(key, 'base64'), nonceOf(index));
  cipher.setAAD(bytes);
  cipher.final();
  return cipher.getAuthTag().toString('base64');
}

/** Whether `bytes` are the bytes sealed as chunk `index` (compared in constant time). */
export function rangeMatchesSeal(key: string, index: number, bytes: Uint8Array, seal: string): boolean {
  const expected = Buffer.from(seal, 'base64');
  const actual = Buffer.from(sealRange(key, index, bytes), 'base64');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function nonceOf(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(index >>> 0, 8);
  return nonce;
}

/** The seal of a range fed in pieces (a streamed GET): the same tag `sealRange` gives the whole range. */
export class RangeSealer {
  private readonly cipher;
  constructor(key: string, index: number) {
    this.cipher = createCipheriv(ALGORITHM, Buffer.from(key, 'base64'), nonceOf(index));
  }

  update(bytes: Uint8Array): void {
    // GCM takes additional data in any number of calls before the (empty) plaintext: GHASH runs over their concatenation.
    if (bytes.length > 0) this.cipher.setAAD(bytes);
  }

  /** Whether the bytes fed are the range sealed as `seal` (compared in constant time). Ends the sealer. */
  matches(seal: string): boolean {
    this.cipher.final();
    const expected = Buffer.from(seal, 'base64');
    const actual = this.cipher.getAuthTag();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /** The seal (base64). Ends the sealer. */
  seal(): string {
    this.cipher.final();
    return this.cipher.getAuthTag().toString('base64');
  }
}
