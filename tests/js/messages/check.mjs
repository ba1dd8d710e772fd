#!/usr/bin/env node
// Runs every message sequence of this folder through the real ao-loader (../ao-loader-eval.mjs)
// for each fixture module, checks the expectations in `<name>.expect.json` (written by
// generate.mjs), and prints a summary. Exits 1 if any expectation fails.
//
//   node tests/js/messages/check.mjs [--verbose]
//
// Fixtures come from $AOLINK_FIXTURES or <repo>/../shared/fixtures/ao-modules.

import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../../..')
const fixtures = process.env.AOLINK_FIXTURES || resolve(repo, '../shared/fixtures/ao-modules')
const verbose = process.argv.includes('--verbose')

export const RUNS = [
  { module: 'aos-wasm64.wasm', format: 'wasm64-unknown-emscripten-draft_2024_02_15', messages: 'aos2' },
  { module: 'aos-wasm32-em4.wasm', format: 'wasm32-unknown-emscripten4', messages: 'aos2' },
  { module: 'aos-wasm32-em2.wasm', format: 'wasm32-unknown-emscripten2', messages: 'aos1' },
  { module: 'counter-wasm32.wasm', format: 'wasm32-unknown-emscripten', messages: 'counter' }
]

function at (value, path) {
  let v = value
  for (const part of path.split('.')) {
    if (v === undefined || v === null) return undefined
    v = v[/^\d+$/.test(part) ? Number(part) : part]
  }
  return v
}

function checkOne (result, check) {
  const v = at(result, check.path)
  const show = (x) => { const s = JSON.stringify(x); return s === undefined ? 'undefined' : s.length > 200 ? s.slice(0, 200) + '…' : s }
  if ('equals' in check) return JSON.stringify(v) === JSON.stringify(check.equals) ? null : `${check.path} = ${show(v)}, expected ${show(check.equals)}`
  if ('loosely' in check) {
    const ok = String(v) === check.loosely || (typeof v === 'number' && v === Number(check.loosely))
    return ok ? null : `${check.path} = ${show(v)}, expected ~${show(check.loosely)}`
  }
  if ('contains' in check) return typeof v === 'string' && v.includes(check.contains) ? null : `${check.path} = ${show(v)} does not contain ${show(check.contains)}`
  if ('length' in check) return Array.isArray(v) && v.length === check.length ? null : `${check.path} = ${show(v)}, expected an array of ${check.length}`
  if ('size' in check) return typeof v === 'string' && v.length === check.size ? null : `${check.path} has length ${v?.length}, expected ${check.size}`
  if ('absent' in check) return v === undefined ? null : `${check.path} = ${show(v)}, expected absent`
  return `unknown check ${JSON.stringify(check)}`
}

let failures = 0
const rows = []
for (const run of RUNS) {
  const wasm = join(fixtures, run.module)
  if (!existsSync(wasm)) {
    process.stderr.write(`SKIPPED ${run.module}: not found in ${fixtures}\n`)
    continue
  }
  const messagesFile = join(here, `${run.messages}.jsonl`)
  const messages = readFileSync(messagesFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  const expect = JSON.parse(readFileSync(join(here, `${run.messages}.expect.json`), 'utf8'))
  const started = Date.now()
  const proc = spawnSync(process.execPath, [join(here, '..', 'ao-loader-eval.mjs'), '--module', wasm, '--format', run.format, '--messages', messagesFile],
    { encoding: 'utf8', maxBuffer: 1 << 30 })
  const seconds = (Date.now() - started) / 1000
  if (proc.status !== 0) {
    process.stderr.write(`${run.module}: ao-loader-eval.mjs exited ${proc.status}\n${proc.stderr}\n`)
    failures++
    continue
  }
  const results = proc.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  if (results.length !== messages.length) {
    process.stderr.write(`${run.module}: ${results.length} results for ${messages.length} messages\n`)
    failures++
  }
  const stats = { errors: 0, expectedErrors: 0, messages: 0, spawns: 0, assignments: 0, outputBytes: 0 }
  results.forEach((r, i) => {
    const e = expect[i] ?? { error: false, checks: [] }
    const isError = r.Error !== undefined
    const problems = []
    if (isError) stats.errors++
    if (e.error) stats.expectedErrors++
    if (isError !== e.error) problems.push(e.error ? 'expected an Error, got none' : `unexpected Error: ${JSON.stringify(r.Error).slice(0, 300)}`)
    for (const c of e.checks) {
      const p = checkOne(r, c)
      if (p) problems.push(p)
    }
    stats.messages += r.Messages?.length ?? 0
    stats.spawns += r.Spawns?.length ?? 0
    stats.assignments += r.Assignments?.length ?? 0
    stats.outputBytes += JSON.stringify(r.Output ?? null).length
    const action = messages[i].Tags.find((t) => t.name === 'Action')?.value ?? '-'
    if (problems.length) {
      failures += problems.length
      process.stderr.write(`FAIL ${run.module} #${i} (Action=${action}, Data=${JSON.stringify(messages[i].Data).slice(0, 120)}):\n  ${problems.join('\n  ')}\n`)
    }
    if (verbose) {
      const data = r.Error !== undefined ? 'Error: ' + r.Error : JSON.stringify(r.Output?.data ?? r.Output)
      process.stdout.write(`${run.module} #${i} ${action}: ${String(data).replace(/\s+/g, ' ').slice(0, 140)}\n`)
    }
  })
  rows.push({ module: run.module, file: `${run.messages}.jsonl`, msgs: messages.length, results: results.length, ...stats, seconds })
}

for (const r of rows) {
  process.stdout.write(`${r.module.padEnd(22)} ${r.file.padEnd(14)} ${r.msgs} msgs, ${r.results} results, ${r.errors} errors (${r.expectedErrors} expected), ` +
    `${r.messages} Messages, ${r.spawns} Spawns, ${r.assignments} Assignments, ${r.outputBytes} bytes of Output, ${r.seconds.toFixed(1)} s\n`)
}
if (failures) {
  process.stdout.write(`${failures} expectation(s) failed\n`)
  process.exit(1)
}
process.stdout.write('all expectations hold\n')
