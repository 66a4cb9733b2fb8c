'use strict';
// autocannon setupRequest, loaded by path inside autocannon's worker thread (so plain CommonJS):
// POST /users/{id}/segments {"add":["SEG_x"],"remove":["SEG_y"]} for a random seeded user, x != y.
module.exports = function setupRequest(request) {
  const users = request.benchUsers;
  const segments = request.benchSegments;
  const prefix = request.benchSlugPrefix;
  const userId = 1 + Math.floor(Math.random() * users);
  const add = 1 + Math.floor(Math.random() * segments);
  let remove = 1 + Math.floor(Math.random() * (segments - 1));
  if (remove >= add) remove++;
  request.path = `/users/${userId}/segments`;
  request.body = JSON.stringify({ add: [`${prefix}${add}`], remove: [`${prefix}${remove}`] });
  return request;
};
