// One request of the README's walkthrough: sent over a real socket, and shown as the curl command
// that sends it and what curl prints.
import http from 'node:http';

/** The address the README shows, whatever port the walkthrough's service listens on. */
export const SHOWN_BASE = 'http://127.0.0.1:8080';

export interface Call {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /** A JSON body; `raw` sends text as it is (a malformed body, a form). */
  body?: unknown;
  raw?: string;
  /** Sent with the body unless the call says otherwise (`null`: no content type). */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** How curl's output is shown: with the status line and headers (-i), through json.tool, or as sent. */
  show?: 'headers' | 'pretty' | 'plain';
  /** Instead of the body: more curl options or a shell pipe after the command, and what that prints. */
  display?: { curlOptions?: string; pipe?: string; output(answer: Answer): string };
}

export interface Answer {
  status: number;
  statusMessage: string;
  /** Header names and values in the order they came, as curl -i prints them. */
  rawHeaders: string[];
  text: string;
  header(name: string): string | undefined;
  /** The body as JSON, typed loosely: the scenes read the fields they show. */
  json(): any;
}

export interface Exchange {
  call: Call;
  answer: Answer;
}

export function send(base: string, call: Call): Promise<Answer> {
  const method = call.method ?? (call.body !== undefined || call.raw !== undefined ? 'POST' : 'GET');
  const payload = call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body));
  const headers: Record<string, string> = { ...call.headers };
  const contentType = call.contentType === undefined ? 'application/json' : call.contentType;
  if (payload !== undefined && contentType) headers['content-type'] = contentType;
  if (payload !== undefined && !contentType) headers['content-type'] = 'application/x-www-form-urlencoded';
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}${call.path}`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: response.statusCode!,
          statusMessage: response.statusMessage ?? '',
          rawHeaders: response.rawHeaders,
          text,
          header: (name) => [response.headers[name.toLowerCase()]].flat()[0],
          json: () => JSON.parse(text),
        });
      });
    });
    request.on('error', reject);
    request.end(payload);
  });
}

/** JSON as people type it on a command line: a space after every comma and colon. */
export function typedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(typedJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${typedJson(item)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

const quoted = (text: string) => (/^[\w/:.=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

export function curlCommand(call: Call): string {
  const parts = ['curl', '-s'];
  if (call.show === 'headers') parts.push('-i');
  if (call.display?.curlOptions) parts.push(call.display.curlOptions);
  const method = call.method ?? (call.body !== undefined || call.raw !== undefined ? 'POST' : 'GET');
  if (method !== 'GET') parts.push('-X', method);
  parts.push(quoted(`${SHOWN_BASE}${call.path}`));
  const payload = call.raw ?? (call.body === undefined ? undefined : typedJson(call.body));
  const contentType = call.contentType === undefined ? 'application/json' : call.contentType;
  if (payload !== undefined && contentType) parts.push('-H', quoted(`Content-Type: ${contentType}`));
  for (const [name, value] of Object.entries(call.headers ?? {})) parts.push('-H', quoted(`${name}: ${value}`));
  if (payload !== undefined) parts.push('-d', quoted(payload));
  const pipe = call.display?.pipe ? ` | ${call.display.pipe}` : call.show === 'pretty' ? ' | python3 -m json.tool' : '';
  return `$ ${parts.join(' ')}${pipe}`;
}

/** What curl prints for the exchange, with the service's address shown as SHOWN_BASE. */
export function curlOutput({ call, answer }: Exchange, base: string): string {
  const shown = (text: string) => text.split(base).join(SHOWN_BASE);
  if (call.display) return shown(call.display.output(answer)).replace(/\n$/, '');
  if (call.show === 'pretty') return JSON.stringify(answer.json(), null, 4);
  const body = shown(answer.text).replace(/\n$/, '');
  if (call.show !== 'headers') return body;
  const head = [`HTTP/1.1 ${answer.status} ${answer.statusMessage}`];
  for (let index = 0; index < answer.rawHeaders.length; index += 2) head.push(`${answer.rawHeaders[index]}: ${shown(answer.rawHeaders[index + 1]!)}`);
  return body ? `${head.join('\n')}\n\n${body}` : head.join('\n');
}
