// S3 requests held on their way to the real server, on loopback: an HTTP
// proxy that forwards everything as is (headers untouched, so signatures hold)
// except the requests a test chooses, which it keeps until the test lets them
// go — long after the client gave up on them. That is a delete whose outcome
// the client never learned, applied later by the server.
import http from 'node:http';
import type net from 'node:net';

export interface HoldingProxy {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** From now on, requests `matches` accepts are held. */
  hold(matches: (req: http.IncomingMessage) => boolean): void;
  /** Resolves once a request is being held. */
  held(): Promise<void>;
  /** Sends every held request on to the server; resolves once the server has answered them all. */
  release(): Promise<void>;
  close(): Promise<void>;
}

/** S3's DeleteObjects: `POST /<bucket>?delete`. */
export function isDeleteObjects(req: http.IncomingMessage): boolean {
  return req.method === 'POST' && /[?&]delete(=|&|$)/.test(req.url ?? '');
}

export async function holdingProxy(target: string): Promise<HoldingProxy> {
  const { hostname, port } = new URL(target);
  let matches: ((req: http.IncomingMessage) => boolean) | undefined;
  const waiting: Array<() => Promise<void>> = [];
  const onHeld: Array<() => void> = [];

  const forward = (req: http.IncomingMessage, body: Buffer, res?: http.ServerResponse) =>
    new Promise<void>((resolve) => {
      const up = http.request({ host: hostname, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (res && !res.destroyed) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        } else answer.resume();
        answer.on('end', () => resolve());
      });
      up.on('error', () => {
        if (res && !res.destroyed) res.destroy();
        resolve();
      });
      up.end(body);
    });

  const server = http.createServer((req, res) => {
    const pieces: Buffer[] = [];
    req.on('data', (c: Buffer) => pieces.push(c));
    req.on('end', () => {
      const body = Buffer.concat(pieces);
      if (matches?.(req)) {
        // Held: the client will time out and go; the request is applied when released.
        waiting.push(() => forward(req, body));
        onHeld.splice(0).forEach((f) => f());
        return;
      }
      void forward(req, body, res);
    });
  });
  const { endpoint, close } = await listening(server);
  return {
    endpoint,
    hold: (m) => (matches = m),
    held: () => (waiting.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => onHeld.push(resolve))),
    release: async () => {
      matches = undefined;
      await Promise.all(waiting.splice(0).map((send) => send()));
    },
    close,
  };
}

/** One GET the counting proxy forwarded: the path (bucket and key), its Range header if any, and the body bytes the server sent back. */
export interface CountedGet {
  path: string;
  range: string | undefined;
  bytes: number;
}

export interface CountingProxy {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Every GET answered so far, in the order they finished. */
  gets: CountedGet[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy that forwards every S3 request as is (headers untouched, so
 * signatures hold) and counts the GETs and the body bytes each returned: how
 * many times the hub read what.
 */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const { hostname, port } = new URL(target);
  const gets: CountedGet[] = [];
  const server = http.createServer((req, res) => {
    const up = http.request({ host: hostname, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      let bytes = 0;
      answer.on('data', (c: Buffer) => (bytes += c.length));
      answer.on('end', () => {
        if (req.method === 'GET') gets.push({ path: (req.url ?? '').split('?')[0]!, range: req.headers.range, bytes });
      });
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const { endpoint, close } = await listening(server);
  return {
    endpoint,
    gets,
    close,
  };
}

/** The proxy listening on a free loopback port; `close` ends its open connections too. */
async function listening(server: http.Server): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
