'use strict';
// autocannon setupRequest, loaded by path inside autocannon's worker thread (so plain CommonJS).
// The request spec carries `kind`, `users` (ids are drawn from 1 to users) and `slugs` (the manual
// segments writes choose from); see LoadTarget in bench/load.ts.
const MIX_WRITE_SHARE = 0.05;

const randomUser = (users) => 1 + Math.floor(Math.random() * users);

/** `count` distinct slugs, drawn at random. */
function distinctSlugs(slugs, count) {
  const picked = [];
  while (picked.length < count) {
    const slug = slugs[Math.floor(Math.random() * slugs.length)];
    if (!picked.includes(slug)) picked.push(slug);
  }
  return picked;
}

function serviceWrite(request) {
  const [first, second, removed] = distinctSlugs(request.slugs, 3);
  request.method = 'POST';
  request.path = `/users/${randomUser(request.users)}/segments`;
  request.headers = { ...request.headers, 'content-type': 'application/json' };
  request.body = JSON.stringify({ add: [first, second], remove: [removed] });
  return request;
}

function serviceRead(request) {
  request.method = 'GET';
  request.path = `/users/${randomUser(request.users)}/segments`;
  return request;
}

module.exports = function setupRequest(request) {
  switch (request.kind) {
    case 'ping':
      request.path = '/ping';
      return request;
    case 'baselineRead':
      request.path = `/read/${randomUser(request.users)}`;
      return request;
    case 'baselineWrite':
      request.method = 'POST';
      request.path = `/write/${randomUser(request.users)}`;
      return request;
    case 'serviceRead':
      return serviceRead(request);
    case 'serviceWrite':
      return serviceWrite(request);
    case 'serviceMix':
      return Math.random() < MIX_WRITE_SHARE ? serviceWrite(request) : serviceRead(request);
    default:
      throw new Error(`unknown request kind ${request.kind}`);
  }
};
