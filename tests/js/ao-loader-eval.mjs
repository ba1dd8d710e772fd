#!/usr/bin/env node
// Reference evaluator for aolink's differential tests: runs a message sequence through the real
// @permaweb/ao-loader 0.0.49 and prints one JSON result per message.
//
//   node ao-loader-eval.mjs --module FILE --format FORMAT --messages FILE.jsonl
//                           [--env FILE.json] [--memory-limit N] [--compute-limit N]
//
// Input: one msg object per line (blank lines are skipped), passed verbatim to
// `handle(memory, msg, env)`.
//
// Output: for every message, one line on stdout with the keys ao-loader returns, in this order:
//   {"Output","Messages","Spawns","Assignments","Error"}
// A key whose value ao-loader leaves `undefined` is absent (JSON.stringify drops it). For example,
// the aos 1.x (emscripten2) fixture has no `Assignments` key, and an error result has only `Error`.
// Memory, GasUsed and Patches are never printed.
// If `handle` throws (aos answered ok:false, the module trapped, or handle returned "" / non-JSON),
// the line is {"Error": <text>}: the thrown value itself when it is a string, `String(err)` for
// an Error object ("Error: out of gas!", "SyntaxError: ..."), JSON.stringify otherwise.
//
// Memory, as the JS CU carries it (ao-protocol.md C13): after a result without `Error`, the
// returned memory becomes the input of the next message. After a result with `Error`, or when
// `handle` throws, the previous memory is kept, and (like the CU, which deletes its cached
// instance) a fresh ao-loader instance is created for the next message. Before the first
// successful message the "previous memory" is null, so the next message starts from a fresh
// instance's initial memory.
//
// DEFAULT ENV (used when --env is not given; aolink's `eval` uses the same default):
//   {
//     "Process": {
//       "Id":    <first message's Target, or if absent "AOLINK0DEFAULT0PROCESS000000000000000000000">,
//       "Owner": <first message's Owner,  or if absent "AOLINK0DEFAULT0OWNER00000000000000000000000">,
//       "Tags":  <first message's Tags (the array as written in the file), or [] if absent>
//     },
//     "Module": {
//       "Id":    "AOLINK0DEFAULT0MODULE0000000000000000000000",
//       "Owner": "AOLINK0DEFAULT0MODULE0OWNER000000000000000",
//       "Tags":  []
//     }
//   }
// (the process, owner and module ids are 43 characters, the module owner 42: aolink's
// default_env in relayer/src/main.rs uses these exact strings, and their lengths matter: the env
// JSON goes on the wasm stack before Lua seeds its string hashes.)
//
// Options: --memory-limit N and --compute-limit N are passed to AoLoader as `memoryLimit` and
// `computeLimit` (numbers). Without them nothing is passed, so ao-loader uses its defaults
// (computeLimit 9e15; memoryLimit is unused by ao-loader 0.0.49, see C12). For pre-metered
// modules (emscripten2, v1) the limit also applies while the glue runs `main` at load, which boots
// Lua: below that cost (5e9..7e9 gas for aos-wasm32-em2.wasm, measured) the boot fails silently
// and every `handle` returns "" (printed as {"Error":"SyntaxError: Unexpected end of JSON input"}).
// If AoLoader itself throws while loading, the script exits with status 1.
//
// Host-dependent input pinned: the command line the legacy glues read is set to
// [node, "./this.program"] before loading (`thisProgram`, the environment variable `_` and
// emscripten2's main(argc, argv) come from it); see main().
//
// Logging: ao-loader mutes console.log during handle (and does not restore it on a throw), and
// the emscripten glue binds its stdout/stderr writers to console.log/console.warn/console.error
// when the module loads. So before anything is loaded, console.log/info/warn/error are redirected
// to stderr, and results are written with process.stdout.write: stdout carries only result lines.

import { readFileSync } from 'node:fs'
import { format as utilFormat } from 'node:util'
import { createRequire } from 'node:module'
import v8 from 'node:v8'

// Node 20 needs this flag for the wasm64 (memory64) fixtures; setting it before any module is
// compiled is equivalent to `node --experimental-wasm-memory64`.
v8.setFlagsFromString('--experimental-wasm-memory64')

const toStderr = (...args) => { process.stderr.write(utilFormat(...args) + '\n') }
console.log = toStderr
console.info = toStderr
console.warn = toStderr
console.error = toStderr
const stderrLog = toStderr

const require = createRequire(import.meta.url)
const AoLoader = require('@permaweb/ao-loader')

export const THIS_PROGRAM = './this.program'
export const DEFAULT_PROCESS_ID = 'AOLINK0DEFAULT0PROCESS000000000000000000000'
export const DEFAULT_OWNER = 'AOLINK0DEFAULT0OWNER00000000000000000000000'
export const DEFAULT_MODULE_ID = 'AOLINK0DEFAULT0MODULE0000000000000000000000'
export const DEFAULT_MODULE_OWNER = 'AOLINK0DEFAULT0MODULE0OWNER000000000000000'

function usage (msg) {
  process.stderr.write(`${msg}\nusage: ao-loader-eval.mjs --module FILE --format FORMAT --messages FILE.jsonl [--env FILE.json] [--memory-limit N] [--compute-limit N]\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const opts = {}
  const names = { '--module': 'module', '--format': 'format', '--messages': 'messages', '--env': 'env', '--memory-limit': 'memoryLimit', '--compute-limit': 'computeLimit' }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    let value
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq) }
    const key = names[arg]
    if (!key) usage(`unknown argument: ${arg}`)
    if (value === undefined) {
      if (i + 1 >= argv.length) usage(`missing value for ${arg}`)
      value = argv[++i]
    }
    opts[key] = value
  }
  for (const k of ['module', 'format', 'messages']) if (!opts[k]) usage(`--${k} is required`)
  for (const k of ['memoryLimit', 'computeLimit']) {
    if (opts[k] !== undefined) {
      const n = Number(opts[k])
      if (!Number.isFinite(n) || n < 0) usage(`invalid number for ${k}: ${opts[k]}`)
      opts[k] = n
    }
  }
  return opts
}

export function defaultEnv (first) {
  return {
    Process: {
      Id: first?.Target ?? DEFAULT_PROCESS_ID,
      Owner: first?.Owner ?? DEFAULT_OWNER,
      Tags: first?.Tags ?? []
    },
    Module: { Id: DEFAULT_MODULE_ID, Owner: DEFAULT_MODULE_OWNER, Tags: [] }
  }
}

// stdout may be a pipe, where large writes complete asynchronously: wait for each write, so that
// nothing is lost when the process ends.
function writeOut (text) {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => err ? reject(err) : resolve()))
}

function errorText (err) {
  if (typeof err === 'string') return err
  if (err instanceof Error) return String(err)
  try { return JSON.stringify(err) } catch { return String(err) }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  // The emscripten2/3 and v1 glues read this process's command line: `thisProgram` is
  // process.argv[1] (this script's path), exposed to the module as the environment variable `_`
  // (ao-protocol.md C6), and emscripten2 calls `main(argc, argv)` at load with
  // argv = [thisProgram, ...process.argv.slice(2)], i.e. with this script's own options. Both end
  // up in the module's memory before Lua boots (environment strings on the heap, argv on the
  // stack), so they shift the address-based Lua string-hash seed and with it every `pairs` order:
  // em2 results would depend on where this script lives and on its arguments. Pin the command
  // line to emscripten's default program name and no arguments, i.e. main(1, ["./this.program"])
  // and `_=./this.program`, the values C4/C6 give the Rust host.
  process.argv.splice(1, process.argv.length - 1, THIS_PROGRAM)
  const wasm = readFileSync(opts.module)
  const messages = readFileSync(opts.messages, 'utf8')
    .split('\n')
    .map((line, i) => [line, i + 1])
    .filter(([line]) => line.trim() !== '')
    .map(([line, n]) => {
      try { return JSON.parse(line) } catch (e) { usage(`${opts.messages}:${n}: ${e.message}`) }
      return undefined
    })
  const env = opts.env ? JSON.parse(readFileSync(opts.env, 'utf8')) : defaultEnv(messages[0])

  const loaderOptions = () => {
    const o = { format: opts.format }
    if (opts.memoryLimit !== undefined) o.memoryLimit = opts.memoryLimit
    if (opts.computeLimit !== undefined) o.computeLimit = opts.computeLimit
    return o
  }
  // ao-loader mutates the binary it is given for some formats: hand each instance its own copy.
  const load = () => AoLoader(Buffer.from(wasm), loaderOptions())

  let handle = await load()
  let memory = null
  for (const msg of messages) {
    let line
    let failed = false
    try {
      const res = await handle(memory, msg, env)
      const out = {
        Output: res.Output,
        Messages: res.Messages,
        Spawns: res.Spawns,
        Assignments: res.Assignments,
        Error: res.Error
      }
      line = JSON.stringify(out)
      if (res.Error !== undefined && res.Error !== null) failed = true
      else memory = res.Memory
    } catch (err) {
      failed = true
      line = JSON.stringify({ Error: errorText(err) })
    } finally {
      // ao-loader leaves console.log muted when handle throws.
      console.log = stderrLog
    }
    await writeOut(line + '\n')
    if (failed) handle = await load()
  }
}

main().then(
  () => { process.exitCode = 0 },
  (err) => { process.stderr.write(`ao-loader-eval: ${err?.stack ?? err}\n`); process.exitCode = 1 }
)
