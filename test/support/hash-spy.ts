// Watches every sha256 computed in this process through node:crypto (the AWS
// SDK's signer, our own code, anything): how many bytes each one digested.
// Libraries take `createHash` from node:crypto when they load, so the wrapper
// is installed by the Jest setup file (installHashSpy) before any of them
// loads; spyOnSha256 only switches the recording on and off.
import crypto from 'node:crypto';

interface SpyState {
  active: boolean;
  sizes: number[];
}

const STATE = Symbol.for('muse.test.sha256-spy');
type Patched = typeof crypto & { [STATE]?: SpyState };

export function installHashSpy(): void {
  const c = crypto as Patched;
  if (c[STATE]) return;
  const state: SpyState = { active: false, sizes: [] };
  c[STATE] = state;
  const original = crypto.createHash;
  crypto.createHash = function (algorithm: string, options?: crypto.HashOptions) {
    const hash = original.call(crypto, algorithm, options);
    if (!state.active || algorithm.toLowerCase().replace('-', '') !== 'sha256') return hash;
    const slot = state.sizes.push(0) - 1;
    const update = hash.update.bind(hash);
    hash.update = ((data: crypto.BinaryLike, enc?: crypto.Encoding) => {
      state.sizes[slot]! += typeof data === 'string' ? Buffer.byteLength(data, enc) : (data as ArrayBufferView).byteLength;
      return enc ? update(data as string, enc) : update(data);
    }) as typeof hash.update;
    return hash;
  } as typeof crypto.createHash;
}

export interface HashSpy {
  /** Bytes digested by each sha256 created while the spy was on. */
  sizes: number[];
  restore(): void;
}

export function spyOnSha256(): HashSpy {
  const state = (crypto as Patched)[STATE];
  if (!state) throw new Error('the sha256 spy is not installed: test/support/setup-env.ts must run first');
  state.sizes = [];
  state.active = true;
  return {
    get sizes() {
      return state.sizes;
    },
    restore: () => {
      state.active = false;
    },
  };
}
