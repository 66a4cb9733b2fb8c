// Problems answered before a request reaches a route: HTTP that node's parser refuses, a request
// that did not arrive in time, headers over node's limit, an Expect header nobody meets. Node and
// fastify answer these with bodies of their own; here they are problem documents like every other.
import { STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemType, type Problem } from './problems';

function clientErrorProblem(code: string | undefined): Problem {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { type: problemType('request-timeout'), title: 'Request timeout', status: 408, detail: 'the request did not arrive in full within the request timeout' };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { type: problemType('headers-too-large'), title: 'Request headers too large', status: 431, detail: 'the request line and headers exceed 16 KiB' };
  }
  return { type: problemType('bad-request'), title: 'Bad request', status: 400, detail: 'the request is not valid HTTP/1.1' };
}

/**
 * fastify's `clientErrorHandler`. As node's own handler does, it writes an answer only when no
 * response has started on the connection, and closes the connection either way.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem = clientErrorProblem(error.code);
  this.log.debug({ code: error.code, status: problem.status }, 'client error');
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && (!inFlight || !inFlight.headersSent)) {
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Node answers an Expect header other than 100-continue with a bare 417 unless someone listens. */
export function answerUnmetExpectations(server: Server): void {
  server.on('checkExpectation', (_request, response: ServerResponse) => {
    const problem: Problem = {
      type: problemType('expectation-failed'),
      title: 'Expectation failed',
      status: 417,
      detail: 'the only Expect this service meets is 100-continue',
    };
    response.writeHead(417, { 'content-type': PROBLEM_CONTENT_TYPE, connection: 'close' }).end(JSON.stringify(problem));
  });
}
