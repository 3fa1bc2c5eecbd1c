// Network faults between a client and the real S3 server, on loopback: a TCP
// proxy that corrupts one byte of the first request body it forwards, and a
// server that accepts connections and never answers (a stalled S3 server).
import net from 'node:net';

export interface Listening {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  close(): Promise<void>;
}

async function listen(server: net.Server, sockets: Set<net.Socket>): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Forwards every connection to `target` (http://host:port). On each
 * connection, the first byte after the first request's headers (the first
 * byte of its body) is flipped on the way to the server: headers, signature
 * and length stay intact, only the payload is wrong.
 */
export function corruptingProxy(target: string): Promise<Listening> {
  const { hostname, port } = new URL(target);
  return proxy({ host: hostname, port: Number(port) }, () => {
    let head = Buffer.alloc(0);
    let corrupted = false;
    return (chunk, upstream) => {
      if (corrupted) return void upstream.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 || head.length <= end + 4) return;
      head[end + 4] = head[end + 4]! ^ 0xff;
      corrupted = true;
      upstream.write(head);
    };
  });
}

/**
 * Forwards every connection to `target` (host:port); once `armed()` says so
 * and a client has sent `afterBytes` more bytes, resets that client's
 * connection (TCP RST), as a server that dies mid-request does.
 */
export function resettingProxy(target: { host: string; port: number }, afterBytes: number, armed: () => boolean): Promise<Listening> {
  return proxy(target, () => {
    let sent = 0;
    return (chunk, upstream, client) => {
      if (armed()) sent += chunk.length;
      if (sent >= afterBytes && sent > 0) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    };
  });
}

/** A TCP proxy: what each client sends goes through that connection's `forward`; what the upstream says goes back as is, or through `back`. */
function proxy(target: { host: string; port: number }, perConnection: () => (chunk: Buffer, upstream: net.Socket, client: net.Socket) => void, back?: (chunk: Buffer, client: net.Socket) => void): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    const forward = perConnection();
    client.on('data', (chunk: Buffer) => forward(chunk, upstream, client));
    if (back) upstream.on('data', (chunk: Buffer) => back(chunk, client));
    else upstream.pipe(client);
    const done = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  });
  return listen(server, sockets);
}

/**
 * A TCP proxy that forwards both ways until `freeze()`; from then on it keeps
 * every connection open and forwards nothing, either way (a server that hangs
 * in the middle of a conversation).
 */
export async function freezingProxy(target: { host: string; port: number }): Promise<Listening & { freeze(): void }> {
  let frozen = false;
  const listening = await proxy(
    target,
    () => (chunk, upstream) => {
      if (!frozen) upstream.write(chunk);
    },
    (chunk, client) => {
      if (!frozen) client.write(chunk);
    },
  );
  return { ...listening, freeze: () => (frozen = true) };
}

/** Accepts connections, reads whatever comes and never answers. */
export function silentServer(): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  return listen(server, sockets);
}

/**
 * Forwards every connection to `target` (host:port), each piece a client
 * sends `delayMs` late (in order; the answers come back at once): every
 * request, a PUT above all, takes at least that long, however fast the
 * machine — a slow link to S3.
 */
export function delayingProxy(target: { host: string; port: number }, delayMs: number): Promise<Listening> {
  // Timers of one duration fire in the order they were set, so the bytes keep their order.
  return proxy(target, () => (chunk, upstream) => void setTimeout(() => !upstream.destroyed && upstream.write(chunk), delayMs));
}
