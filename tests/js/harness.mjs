// Shared harness for aolink's end-to-end JS tests: starts the node binary and installs the fetch
// wrapper aoconnect needs.
//
// - startNode(): runs `$AOLINK_BIN node --data-dir <fresh tmp dir> --listen 127.0.0.1:0 [args…]` and
//   waits (bounded) for `aolink node listening on http://127.0.0.1:<PORT>` and `node address: <43 chars>`.
// - installFetchHarness(): must run BEFORE @permaweb/aoconnect is imported (ao-protocol.md A1):
//   @permaweb/ao-scheduler-utils captures `fetch` and reads `process.env.GRAPHQL_URL` at import
//   time, and locate() always asks `https://su-router.ao-testnet.xyz?process-id=<pid>` first with
//   no catch around that fetch. The wrapper answers the su-router itself with a 404 (a non-2xx
//   makes locate() fall back to GraphQL), refuses every other non-loopback URL, and logs every
//   request, so the test never touches the internet.

import { spawn as spawnChild } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'

export const SU_ROUTER_HOST = 'su-router.ao-testnet.xyz'
const STARTUP_TIMEOUT_MS = 20_000

export const b64url = (buf) => Buffer.from(buf).toString('base64url')
export const sha256 = (...parts) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
export const tagValue = (tags, name) => (tags ?? []).find((t) => t.name === name)?.value
export const tagValues = (tags, name) => (tags ?? []).filter((t) => t.name === name).map((t) => t.value)
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export function isLoopback(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/**
 * Starts the node (`args` are added to its command line, e.g. `['--config', file]`). Resolves
 * {base, address, stop(), output()} once it has printed its URL and address; rejects (with its
 * output) if it exits first or is not ready in time.
 */
export function startNode({ prefix = 'aolink-js-', args: extraArgs = [] } = {}) {
  const bin = process.env.AOLINK_BIN
  if (!bin) {
    return Promise.reject(
      new Error('AOLINK_BIN is not set: point it at the aolink binary (e.g. $CARGO_TARGET_DIR/debug/aolink)')
    )
  }
  const dataDir = mkdtempSync(join(tmpdir(), prefix))
  const args = ['node', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...extraArgs]
  const child = spawnChild(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const output = () => `command: ${bin} ${args.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`

  // A crash of the test process must not leave the node running.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.on('exit', onExit)

  let stopped = false
  async function stop() {
    if (stopped) return
    stopped = true
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref())
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        child.kill('SIGKILL')
        await exited
      }
    }
    process.off('exit', onExit)
    rmSync(dataDir, { recursive: true, force: true })
  }

  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err, value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err) {
        stop().finally(() => reject(err))
      } else {
        resolve(value)
      }
    }
    const timer = setTimeout(
      () => finish(new Error(`aolink node did not report its URL and address within ${STARTUP_TIMEOUT_MS / 1000} s\n${output()}`)),
      STARTUP_TIMEOUT_MS
    )
    const check = () => {
      const url = stdout.match(/aolink node listening on (http:\/\/127\.0\.0\.1:\d+)/)
      const address = stdout.match(/node address: ([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/)
      if (url && address) finish(null, { base: url[1], address: address[1], stop, output, child })
    }
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      check()
    })
    child.stderr.on('data', (chunk) => {
      // Keep the tail only: a node evaluating for minutes may log a lot.
      stderr = (stderr + chunk).slice(-200_000)
    })
    child.on('error', (err) => finish(new Error(`could not start ${bin}: ${err.message}\n${output()}`)))
    child.on('exit', (code, signal) =>
      finish(new Error(`aolink node exited before it was ready (code ${code}, signal ${signal})\n${output()}`))
    )
  })
}

/**
 * Replaces globalThis.fetch (see the header). Returns {fetchLog, restore}; fetchLog holds
 * {method, url, body?, status?} for every request any library (or the test) made.
 */
export function installFetchHarness() {
  const realFetch = globalThis.fetch
  const fetchLog = []
  globalThis.fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const method = String(init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
    const entry = { method, url }
    if (init.body instanceof Uint8Array) entry.body = Buffer.from(init.body)
    else if (typeof init.body === 'string') entry.body = init.body
    fetchLog.push(entry)

    const parsed = new URL(url)
    if (parsed.hostname === SU_ROUTER_HOST) {
      return new Response(JSON.stringify({ error: 'su-router is not reachable from the aolink test harness' }), {
        status: 404,
        headers: { 'Content-Type': 'application/json' }
      })
    }
    if (!isLoopback(parsed.hostname)) {
      throw new Error(`aolink test harness: refusing a non-loopback request to ${url} (the test must not touch the internet)`)
    }
    const res = await realFetch(input, init)
    entry.status = res.status
    return res
  }
  return {
    fetchLog,
    restore: () => {
      globalThis.fetch = realFetch
    }
  }
}
