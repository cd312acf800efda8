#!/usr/bin/env node
// Entry of the `lora-lab` command: runs the bundled CLI (build it with `npm run build`).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  console.error(`lora-lab: ${bundle} is missing. Run "npm run build" in ${path.join(__dirname, '..')} first.`);
  process.exit(2);
}
require(bundle)
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
