// HTTP/1.1 written by hand on a socket, for requests no well-behaved client sends: any bytes in the
// request line and headers, repeated headers, lying lengths, bodies that are not what they claim.
import net from 'node:net';

export interface RawRequest {
  method: string;
  /** The request-target exactly as sent (UTF-8 bytes of this string). */
  target: string;
  /** In order, repeats allowed; no Host, Content-Length or Connection unless given here. */
  headers: Array<[string, string]>;
  body?: Buffer;
  /** Adds Content-Length (of `body`) unless a header of that name is given. Default true. */
  contentLength?: boolean;
}

export interface RawResponse {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  /** The bytes received, for messages. */
  raw: string;
}

function encodeRequest(request: RawRequest): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1'];
  const names = new Set(request.headers.map(([name]) => name.toLowerCase()));
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.body && request.contentLength !== false && !names.has('content-length') && !names.has('transfer-encoding')) {
    lines.push(`Content-Length: ${request.body.length}`);
  }
  if (!names.has('connection')) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), request.body ?? Buffer.alloc(0)]);
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('chunked body without its last chunk');
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

export function parseResponse(bytes: Buffer): RawResponse {
  const raw = bytes.toString('latin1');
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no complete response: ${JSON.stringify(raw.slice(0, 300))}`);
  const [statusLine, ...headerLines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3})/.exec(statusLine!);
  if (!match) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = bytes.subarray(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(match[1]), headers, body, raw: raw.slice(0, 2_000) };
}

/**
 * Sends one request on a connection of its own and reads until the server closes it (the request
 * asks for `Connection: close`). `halfClose` ends the client's side after sending, as a client
 * that gives up on a body it announced would; `localAddress` picks the client's address (any
 * 127.x.y.z works on Linux). Rejects when no complete response arrives in time.
 */
export function sendRaw(
  port: number,
  request: RawRequest,
  options: { timeoutMs?: number; halfClose?: boolean; localAddress?: string } = {},
): Promise<RawResponse> {
  const { timeoutMs = 15_000, halfClose = false, localAddress } = options;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${request.method} ${request.target}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A server that answers early (413, 400) may close while the body is still being written.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(new Error(`${request.method} ${JSON.stringify(request.target)}: ${(error as Error).message}`));
      }
    });
    socket.write(encodeRequest(request));
    if (halfClose) socket.end();
  });
}
