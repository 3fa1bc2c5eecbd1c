// Content addresses: "sha256:" and the 64 lowercase hex digits of the sha256
// of the bytes. Every object id and every bundle key is one (bundle-format.md,
// Content addressing). The one place that parses, tests and builds them;
// a leaf module, so every layer may use it.
import { createHash, type Hash } from 'node:crypto';

export const ADDRESS_PREFIX = 'sha256:';
/** For messages: what an address looks like. */
export const ADDRESS_SHAPE = '"sha256:" and 64 lowercase hex digits';

/**
 * A loop rather than a regular expression: it runs for every object and
 * manifest entry of a bundle (millions of times for the web preset), and this
 * is several times cheaper.
 */
export function isAddress(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 71 || !v.startsWith(ADDRESS_PREFIX)) return false;
  for (let i = 7; i < 71; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** 64 lowercase hex digits: a bare object id, as the Muse client writes it. */
export function isBareHex(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** For messages: what an object id looks like (either spelling). */
export const OBJECT_ID_SHAPE = '64 lowercase hex digits, bare or after "sha256:"';

/**
 * An object id in either spelling (bundle-format.md, Identifiers): bare 64
 * hex (Muse) or an address ("sha256:" + 64 hex). Bundle keys are addresses only.
 */
export function isObjectId(v: unknown): v is string {
  return isAddress(v) || isBareHex(v);
}

/**
 * The canonical spelling of an object id, the one rows, refs and store keys
 * use (data-model.md, musehub_objects): "sha256:" + 64 hex. Assumes an object
 * id (isObjectId); an address comes back as it is, without a copy.
 */
export function canonicalObjectId(id: string): string {
  return id.length === 64 ? ADDRESS_PREFIX + id : id;
}

/** Whether an id is spelled bare (as Muse spells it). */
export function isBareSpelling(id: string): boolean {
  return id.length === 64;
}

/** A canonical id spelled the way `like` is: bare when `like` is bare. Answers go back in the spelling the client used. */
export function spelledLike(canonical: string, like: string): string {
  return isBareSpelling(like) ? canonical.slice(ADDRESS_PREFIX.length) : canonical;
}

/** The 64 hex digits of an address (an S3 key suffix, a file name); throws naming `what` when `address` is not one. */
export function hexOf(address: string, what = 'content address'): string {
  if (!isAddress(address)) throw new Error(`not a ${what}: ${JSON.stringify(address)} (want ${ADDRESS_SHAPE})`);
  return address.slice(ADDRESS_PREFIX.length);
}

/** The address of a digest already computed. */
export function addressOfDigest(digest: Buffer): string {
  return ADDRESS_PREFIX + digest.toString('hex');
}

/** The address of `bytes`: one sha256 pass over them. */
export function addressOf(bytes: Uint8Array | string): string {
  return addressOfDigest(createHash('sha256').update(bytes).digest());
}

/** Hashes chunks as they come (a stream, a file) in bounded memory. */
export class AddressHasher {
  private readonly hash: Hash = createHash('sha256');
  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    return this;
  }
  address(): string {
    return addressOfDigest(this.hash.digest());
  }
}

/** The address of everything an async iterable yields (an S3 body, a file stream). */
export async function addressOfStream(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const h = new AddressHasher();
  for await (const chunk of chunks) h.update(chunk);
  return h.address();
}

/** Shortens an address for messages the way operators read them: sha256:9f2c4e1a09b3… */
export function shortAddress(address: string): string {
  return `${ADDRESS_PREFIX}${address.slice(ADDRESS_PREFIX.length, ADDRESS_PREFIX.length + 12)}…`;
}
