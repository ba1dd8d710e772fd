#!/usr/bin/env node
// Makes solcjs (npm `solc`, the compiler emscripten-built into JS) answer like native solc for
// forge, which only speaks `--version` and `--standard-json`. No native solc installs offline.
'use strict'
const path = require('path')
const fs = require('fs')
const solc = require(path.join(__dirname, 'node_modules', 'solc'))

const args = process.argv.slice(2)
if (args.includes('--version')) {
  console.log('solc, the solidity compiler commandline interface')
  console.log('Version: ' + solc.version())
  process.exit(0)
}
if (!args.includes('--standard-json')) {
  console.error('solc-shim: only --version and --standard-json are supported')
  process.exit(1)
}
const roots = [process.cwd()]
for (let i = 0; i < args.length; i++) {
  if (['--base-path', '--include-path', '--allow-paths'].includes(args[i]) && args[i + 1]) {
    roots.push(...args[i + 1].split(','))
  }
}
function findImports (p) {
  for (const root of roots) {
    const file = path.resolve(root, p)
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') }
  }
  return { error: 'File not found: ' + p }
}
process.stdout.write(solc.compile(fs.readFileSync(0, 'utf8'), { import: findImports }))
