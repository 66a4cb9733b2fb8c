#!/usr/bin/env node
// The `segments` command (package.json "bin"): runs src/cli/main.ts through tsx, as `npm start` runs the service.
require('tsx/cjs');
require('../src/cli/main.ts');
