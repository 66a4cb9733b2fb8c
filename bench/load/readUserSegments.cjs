'use strict';
// autocannon setupRequest, loaded by path inside autocannon's worker thread (so plain CommonJS):
// GET /users/{id}/segments for a random seeded user. `benchUsers` comes with the request spec.
module.exports = function setupRequest(request) {
  const userId = 1 + Math.floor(Math.random() * request.benchUsers);
  request.path = `/users/${userId}/segments`;
  return request;
};
