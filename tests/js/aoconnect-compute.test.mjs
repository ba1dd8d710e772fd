// End-to-end compute: the real @permaweb/aoconnect 0.0.98 (legacy mode) against the aolink node
// binary, evaluating a real aos 2.0.0 module (the wasm64 fixture).
//
//   AOLINK_BIN=/path/to/aolink AOLINK_FIXTURES=/path/to/ao-modules \
//     node --test tests/js/aoconnect-compute.test.mjs
//
// The module is read from $AOLINK_FIXTURES/aos-wasm64.wasm, else from
// <repo>/../shared/fixtures/ao-modules/aos-wasm64.wasm (never copied into the repo). When it is
// missing, every test fails if CI is set and is skipped with a notice otherwise.
//
// One node serves every role aoconnect talks to (MU, SU, CU, gateway GraphQL); the fetch harness
// (harness.mjs, installed before aoconnect is imported) keeps everything on loopback.
//
// Scenario (the steps share state and run in order):
//  1. POST the Type=Module item (the .wasm as data) → 2xx "Stored Module" with the item id.
//  2. spawn() process A with Authority = the node address (the node signs pushed messages, and aos
//     only trusts messages whose Owner is an Authority, ao-protocol.md §4 step 7 / C19).
//  3. Eval `x = 40 + 2; return x` → Output.data "42" (aos 2.0 Output is {data, prompt, test}, C17).
//  4. Eval `x = 7; error('boom')` → Error; `return x` is still "42" (the errored memory, x = 7,
//     is discarded).
//  5. results(): the non-errored evaluations in order (A3/A14), string cursors, DESC, from-paging.
//  6. dryrun Eval `x = 1000` → "1000"; nothing persisted: a real `return x` is still "42" (A4).
//  7. Process B; B answers Ping with Pong; A records the Pong. A → node messenger → B → A.
//  7b. Pushed-For on the second hop (B's Pong) names the user message that started the chain.
//  8. GET /state/{A}: raw memory with Last-Ordinate.
//  9. Cron: process C with `Cron-Interval: 1-second`; aoconnect monitor() → its ticks Send to B;
//     GET /cron/{C} lists them with cursors that page; unmonitor() stops the pushes.
//
// Dry-run Evals pass `Owner` = the wallet address: aoconnect's default Owner is "1234", and aos
// runs `_eval` only when msg.From == the process Owner (C21); with "1234" the Eval would land in
// the Inbox instead of being evaluated.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Arweave from 'arweave'
import { createData, ArweaveSigner, DataItem } from '@dha-team/arbundles'
import {
  SU_ROUTER_HOST,
  b64url,
  sha256,
  tagValue,
  sleep,
  isLoopback,
  startNode,
  installFetchHarness
} from './harness.mjs'

const MODULE_FILE = 'aos-wasm64.wasm'
const MODULE_FORMAT = 'wasm64-unknown-emscripten-draft_2024_02_15'
const MODULE_SHA256 = 'e384efd41bdcc4e58eafc31c334c71470a6a40b363a972c90fe72600c0af8682'
const PROCESS_LIMIT_TAGS = [
  { name: 'Memory-Limit', value: '1-gb' },
  { name: 'Compute-Limit', value: '9000000000000' }
]

// Bounds. Evaluations run in the node (a debug build in development), so they are generous but
// finite; every aoconnect call is also wrapped in within() so a hung request fails with its name.
const CALL_MS = 120_000 // one aoconnect call (the first result compiles the module)
const STEP_MS = 300_000 // one test
const PONG_WAIT_MS = 30_000 // the A → B → A round trip

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const fixturesDir = process.env.AOLINK_FIXTURES || join(repoRoot, '..', 'shared', 'fixtures', 'ao-modules')
const modulePath = join(fixturesDir, MODULE_FILE)
const haveFixture = existsSync(modulePath)
const SKIP =
  !haveFixture && !process.env.CI
    ? `NOTICE: ${modulePath} not found (set AOLINK_FIXTURES to the ao-modules fixture folder); compute tests skipped`
    : null
if (SKIP) console.log(`# ${SKIP}`)

/** Every test starts with this: skips visibly when the fixture is absent (outside CI). */
function skipped(t) {
  if (SKIP) {
    t.skip(SKIP)
    return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

const S = {
  node: null, // {base, address, stop, output}
  base: null,
  nodeAddress: null,
  fetchLog: null,
  restoreFetch: null,
  aoconnect: null,
  ao: null,
  jwk: null,
  walletAddress: null,
  signer: null,
  moduleId: null,
  A: null, // process A id
  B: null, // process B id
  evalSet: null, // message id of `x = 40 + 2; return x`
  evalError: null,
  evalAfterError: null,
  resultsAsc: null, // the ASC edges after step 4
  sendPing: null, // message id of A's Eval that Sends the Ping
  pingId: null, // the Ping the node pushed to B
  pong: null // the SU edge of B's Pong in A's schedule
}

function requireStep(value, step) {
  assert.ok(value, `an earlier step (${step}) failed; see its error`)
}

/** Rejects with a named error when `promise` does not settle within `ms`. */
async function within(ms, what, promise) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const show = (v) => {
  const text = JSON.stringify(v)
  return text && text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}

async function evalOn(processId, code, what = code) {
  const id = await within(
    CALL_MS,
    `message(Eval ${what})`,
    S.ao.message({ process: processId, signer: S.signer, tags: [{ name: 'Action', value: 'Eval' }], data: code })
  )
  assert.match(id, /^[A-Za-z0-9_-]{43}$/, `message() returned ${show(id)}`)
  return id
}

async function resultOf(processId, messageId, what) {
  return within(CALL_MS, `result(${what})`, S.ao.result({ message: messageId, process: processId }))
}

/** Asserts an aos 2.0 Eval result without Error and returns Output.data. */
function evalData(res, what) {
  assert.ok(res && typeof res === 'object', `${what}: result is not an object: ${show(res)}`)
  assert.equal(res.Error, undefined, `${what}: unexpected Error: ${show(res)}`)
  assert.ok(res.Output && typeof res.Output === 'object', `${what}: Output must be the aos {data, prompt, …} object: ${show(res)}`)
  assert.equal(typeof res.Output.prompt, 'string', `${what}: Output.prompt missing: ${show(res)}`)
  return res.Output.data
}

async function dryEval(processId, code) {
  return within(
    CALL_MS,
    `dryrun(Eval ${code})`,
    S.ao.dryrun({ process: processId, Owner: S.walletAddress, tags: [{ name: 'Action', value: 'Eval' }], data: code })
  )
}

async function lastSlot(processId) {
  return within(CALL_MS, 'getLastSlot', S.ao.getLastSlot({ processId }))
}

async function schedule(processId) {
  const page = await within(
    CALL_MS,
    'getMessages',
    S.ao.getMessages({ processId, from: '', to: '', limit: '1000' })
  )
  assert.ok(page && Array.isArray(page.edges), `getMessages did not return {edges:[…]}: ${show(page)}`)
  return page.edges
}

async function spawnAos(name, extraTags = []) {
  const pid = await within(
    CALL_MS,
    `spawn(${name})`,
    S.ao.spawn({
      module: S.moduleId,
      scheduler: S.nodeAddress,
      signer: S.signer,
      tags: [{ name: 'Authority', value: S.nodeAddress }, { name: 'Name', value: name }, ...PROCESS_LIMIT_TAGS, ...extraTags]
    })
  )
  assert.match(pid ?? '', /^[A-Za-z0-9_-]{43}$/, `spawn(${name}) returned ${show(pid)}`)
  return pid
}

const onlyData = (edges) => edges.map((e) => e.node?.Output?.data)

// ---------------------------------------------------------------------------------------------

before(async () => {
  if (SKIP) return
  if (!haveFixture) {
    throw new Error(`CI is set and the module fixture ${modulePath} is missing (set AOLINK_FIXTURES)`)
  }
  S.node = await startNode({ prefix: 'aolink-compute-' })
  S.base = S.node.base
  S.nodeAddress = S.node.address

  process.env.GRAPHQL_URL = `${S.base}/graphql`
  const harness = installFetchHarness()
  S.fetchLog = harness.fetchLog
  S.restoreFetch = harness.restore
  // Only now: scheduler-utils captures fetch and GRAPHQL_URL at import time.
  S.aoconnect = await import('@permaweb/aoconnect')
  S.ao = S.aoconnect.connect({ MODE: 'legacy', MU_URL: S.base, CU_URL: S.base, GATEWAY_URL: S.base, noLog: true })

  S.jwk = await Arweave.init({}).wallets.generate()
  S.walletAddress = b64url(sha256(Buffer.from(S.jwk.n, 'base64url')))
  S.signer = S.aoconnect.createDataItemSigner(S.jwk)
})

after(async () => {
  if (S.node) await S.node.stop()
  if (S.restoreFetch) S.restoreFetch()
})

// Failing tests print the node's log tail, which usually names the cause.
function nodeLogTail() {
  return S.node ? S.node.output().slice(-6000) : '(node not started)'
}

async function withNodeLog(fn) {
  try {
    return await fn()
  } catch (err) {
    err.message += `\n--- node output (tail) ---\n${nodeLogTail()}`
    throw err
  }
}

// ---------------------------------------------------------------------------------------------

test('1. module: the aos wasm64 Type=Module item is stored and answered with its id', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  await withNodeLog(async () => {
    const wasm = readFileSync(modulePath)
    assert.equal(sha256(wasm).toString('hex'), MODULE_SHA256, `${modulePath} is not the fixture PROVENANCE.md lists`)

    const signer = new ArweaveSigner(S.jwk)
    const item = createData(wasm, signer, {
      tags: [
        { name: 'Data-Protocol', value: 'ao' },
        { name: 'Variant', value: 'ao.TN.1' },
        { name: 'Type', value: 'Module' },
        { name: 'Module-Format', value: MODULE_FORMAT },
        { name: 'Input-Encoding', value: 'JSON-1' },
        { name: 'Output-Encoding', value: 'JSON-1' },
        ...PROCESS_LIMIT_TAGS,
        { name: 'Content-Type', value: 'application/wasm' }
      ]
    })
    await item.sign(signer)
    const raw = item.getRaw()
    assert.ok(raw.length > 700_000 && raw.length < 10 * 1024 * 1024, `module item is ${raw.length} bytes; the node's body limit is 10 MiB`)
    assert.equal(await DataItem.verify(raw), true, 'arbundles does not verify its own module item')

    const res = await within(
      CALL_MS,
      'POST / (module)',
      fetch(`${S.base}/`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', Accept: 'application/json' },
        body: raw
      })
    )
    const text = await res.text()
    assert.ok(res.status >= 200 && res.status < 300, `POST / (module, ${raw.length} bytes) answered ${res.status}: ${text}`)
    let json = null
    try {
      json = JSON.parse(text)
    } catch {}
    assert.ok(json, `POST / (module) did not answer JSON: ${text}`)
    assert.equal(json.id, item.id, `POST / (module) must answer the module item id: ${text}`)
    assert.equal(json.message, 'Stored Module', `POST / (module): ${text}`)
    S.moduleId = item.id
  })
})

test('2. spawn: aoconnect spawn() passes the GraphQL module check and the process boots', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.moduleId, 'module')
  await withNodeLog(async () => {
    const before = S.fetchLog.length
    S.A = await spawnAos('compute-A')

    // aoconnect verified the module through the node's GraphQL (transactions(ids:[module])).
    const gql = S.fetchLog.slice(before).filter((e) => e.url === `${S.base}/graphql` && e.method === 'POST')
    assert.ok(
      gql.some((e) => JSON.parse(e.body).variables?.transactionIds?.includes(S.moduleId)),
      `spawn() should have asked the node's GraphQL for the module's tags; sent: ${show(gql.map((e) => e.body))}`
    )

    // The process message itself (slot 0) is evaluated: aos boots without Error (C16).
    const boot = await resultOf(S.A, S.A, 'process message')
    assert.equal(boot?.Error, undefined, `booting A failed: ${show(boot)}`)
    assert.deepEqual(boot.Messages, [], `boot result: ${show(boot)}`)
    assert.deepEqual(boot.Spawns, [], `boot result: ${show(boot)}`)
  })
})

test('3. Eval: `x = 40 + 2; return x` gives Output.data "42"', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.A, 'spawn')
  await withNodeLog(async () => {
    S.evalSet = await evalOn(S.A, 'x = 40 + 2; return x')
    const res = await resultOf(S.A, S.evalSet, 'x = 40 + 2')
    assert.equal(evalData(res, 'x = 40 + 2'), '42', `result: ${show(res)}`)
    assert.match(res.Output.prompt, /aos/, 'Output.prompt is the aos prompt')
    assert.deepEqual(res.Messages, [], `result: ${show(res)}`)
    assert.deepEqual(res.Spawns, [], `result: ${show(res)}`)
    // The same message asked again answers the same (stored) result.
    const again = await resultOf(S.A, S.evalSet, 'x = 40 + 2, again')
    assert.deepEqual(again, res)
  })
})

test('4. Eval error: `error(\'boom\')` gives Error; its memory is discarded, so x is still 42', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.evalSet, 'Eval')
  await withNodeLog(async () => {
    S.evalError = await evalOn(S.A, "x = 7; error('boom')")
    const bad = await resultOf(S.A, S.evalError, 'error(boom)')
    assert.ok(bad && bad.Error, `error('boom') must give a result with Error: ${show(bad)}`)
    assert.match(typeof bad.Error === 'string' ? bad.Error : JSON.stringify(bad.Error), /boom/, `Error: ${show(bad)}`)

    S.evalAfterError = await evalOn(S.A, 'return x')
    const res = await resultOf(S.A, S.evalAfterError, 'return x after the error')
    assert.equal(
      evalData(res, 'return x after the error'),
      '42',
      `the errored Eval set x = 7 before failing; its memory must be discarded: ${show(res)}`
    )
  })
})

test('5. results: non-errored evaluations in order, string cursors, DESC reverses, `from` pages', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.evalAfterError, 'Eval error')
  await withNodeLog(async () => {
    const results = (args) => within(CALL_MS, `results(${show(args)})`, S.ao.results({ process: S.A, ...args }))

    // Slots: 0 = boot (Output.data ""), 1 = "42", 2 = error (excluded), 3 = "42".
    const asc = await results({ sort: 'ASC' })
    assert.ok(Array.isArray(asc?.edges), `results ASC: ${show(asc)}`)
    assert.deepEqual(onlyData(asc.edges), ['', '42', '42'], `results ASC: boot, Eval, Eval (the errored Eval excluded): ${show(asc)}`)
    for (const e of asc.edges) {
      assert.equal(typeof e.cursor, 'string', `cursor must be a string: ${show(e)}`)
      assert.ok(e.cursor.length > 0)
      assert.equal(e.node.Error, undefined, `errored evaluations must not be listed: ${show(e)}`)
    }
    assert.equal(new Set(asc.edges.map((e) => e.cursor)).size, asc.edges.length, 'cursors must be distinct')
    const evalResult = await resultOf(S.A, S.evalSet, 'x = 40 + 2')
    assert.deepEqual(asc.edges[1].node.Output, evalResult.Output, 'the listed Output is the one /result answers')
    S.resultsAsc = asc.edges

    // aoconnect always sends sort (A14): with no sort the order is ASC.
    const dflt = await results({})
    assert.deepEqual(dflt.edges.map((e) => e.cursor), asc.edges.map((e) => e.cursor), 'results() without sort is ASC')

    const desc = await results({ sort: 'DESC' })
    assert.deepEqual(onlyData(desc.edges), ['42', '42', ''], `results DESC: ${show(desc)}`)
    for (const e of desc.edges) assert.equal(typeof e.cursor, 'string')

    // Paging with `from` (exclusive) and `limit`.
    const first = await results({ sort: 'ASC', limit: 1 })
    assert.equal(first.edges.length, 1, `limit 1: ${show(first)}`)
    assert.equal(first.edges[0].cursor, asc.edges[0].cursor, 'limit 1 gives the first edge')
    const rest = await results({ sort: 'ASC', from: first.edges[0].cursor })
    assert.deepEqual(
      rest.edges.map((e) => e.cursor),
      asc.edges.slice(1).map((e) => e.cursor),
      `from = the first cursor must give the edges after it: ${show(rest)}`
    )
    const last = await results({ sort: 'ASC', from: asc.edges[1].cursor })
    assert.deepEqual(last.edges.map((e) => e.cursor), [asc.edges[2].cursor], `from = the second cursor: ${show(last)}`)
    const none = await results({ sort: 'ASC', from: asc.edges[2].cursor })
    assert.deepEqual(none.edges, [], `from = the last cursor: ${show(none)}`)
    const descRest = await results({ sort: 'DESC', from: desc.edges[0].cursor })
    assert.deepEqual(
      descRest.edges.map((e) => e.cursor),
      desc.edges.slice(1).map((e) => e.cursor),
      `DESC from the first DESC cursor: ${show(descRest)}`
    )
    assert.deepEqual(onlyData(descRest.edges), ['42', ''])
  })
})

test('6. dryrun: Eval `x = 1000` answers 1000 and is not persisted', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.resultsAsc, 'results')
  await withNodeLog(async () => {
    const slotBefore = await lastSlot(S.A)
    const dry = await dryEval(S.A, 'x = 1000; return x')
    assert.equal(evalData(dry, 'dryrun x = 1000'), '1000', `dryrun: ${show(dry)}`)

    assert.equal(await lastSlot(S.A), slotBefore, 'a dry-run must not take a slot')
    const listed = await within(CALL_MS, 'results after dryrun', S.ao.results({ process: S.A, sort: 'ASC' }))
    assert.deepEqual(
      listed.edges.map((e) => e.cursor),
      S.resultsAsc.map((e) => e.cursor),
      `a dry-run must not be listed by results: ${show(listed)}`
    )

    const check = await evalOn(S.A, 'return x')
    const res = await resultOf(S.A, check, 'return x after the dry-run')
    assert.equal(evalData(res, 'return x after the dry-run'), '42', `the dry-run's x = 1000 must not persist: ${show(res)}`)

    const dryAgain = await dryEval(S.A, 'return x')
    assert.equal(evalData(dryAgain, 'dryrun return x'), '42', `a later dry-run sees the persisted x: ${show(dryAgain)}`)
  })
})

test('7. process to process: A Sends Ping to B, B replies Pong through the node messenger', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.A, 'spawn')
  await withNodeLog(async () => {
    S.B = await spawnAos('compute-B')
    assert.notEqual(S.B, S.A)

    const pingHandler = await evalOn(
      S.B,
      "Handlers.add('ping', Handlers.utils.hasMatchingTag('Action','Ping'), function(m) Send({Target=m.From, Action='Pong', Data='pong:'..m.Data}) end)",
      'B: add ping handler'
    )
    const r1 = await resultOf(S.B, pingHandler, 'B: add ping handler')
    evalData(r1, 'B: add ping handler')

    const pongHandler = await evalOn(
      S.A,
      "Handlers.add('pong', Handlers.utils.hasMatchingTag('Action','Pong'), function(m) Got = m.Data end)",
      'A: add pong handler'
    )
    evalData(await resultOf(S.A, pongHandler, 'A: add pong handler'), 'A: add pong handler')

    S.sendPing = await evalOn(S.A, `Send({Target='${S.B}', Action='Ping', Data='hi'})`, 'A: Send Ping')
    const sent = await resultOf(S.A, S.sendPing, 'A: Send Ping')
    evalData(sent, 'A: Send Ping')
    assert.equal(sent.Messages?.length, 1, `A's outbox must hold the Ping: ${show(sent)}`)
    assert.equal(sent.Messages[0].Target, S.B)
    assert.equal(tagValue(sent.Messages[0].Tags, 'Action'), 'Ping')
    assert.equal(sent.Messages[0].Data, 'hi')

    // Bounded poll: A's Got becomes "pong:hi" once the reply has come back.
    const deadline = Date.now() + PONG_WAIT_MS
    let got = null
    let lastDry = null
    while (Date.now() < deadline) {
      lastDry = await dryEval(S.A, 'return Got')
      got = lastDry?.Output?.data
      if (got === 'pong:hi') break
      await sleep(500)
    }
    assert.equal(got, 'pong:hi', `A never recorded B's Pong within ${PONG_WAIT_MS / 1000} s; last dryrun: ${show(lastDry)}`)

    // B's schedule (SU): the Ping, pushed by the node for A.
    const bEdges = await schedule(S.B)
    const ping = bEdges.find((e) => tagValue(e.node.message.tags, 'Action') === 'Ping')
    assert.ok(ping, `B's schedule has no Ping: ${show(bEdges.map((e) => e.node.message.tags))}`)
    const pingTags = ping.node.message.tags
    assert.equal(tagValue(pingTags, 'From-Process'), S.A, `Ping From-Process: ${show(pingTags)}`)
    assert.equal(tagValue(pingTags, 'From-Module'), S.moduleId, `Ping From-Module: ${show(pingTags)}`)
    assert.equal(tagValue(pingTags, 'Type'), 'Message')
    assert.equal(ping.node.message.data, 'hi')
    assert.equal(ping.node.message.owner?.address, S.nodeAddress, 'pushed messages are signed by the node key')
    assert.equal(tagValue(pingTags, 'Pushed-For'), S.sendPing, `Ping Pushed-For must name A's Send Eval: ${show(pingTags)}`)

    // A's schedule: the Pong from B.
    const aEdges = await schedule(S.A)
    const pong = aEdges.find((e) => tagValue(e.node.message.tags, 'Action') === 'Pong')
    assert.ok(pong, `A's schedule has no Pong: ${show(aEdges.map((e) => e.node.message.tags))}`)
    assert.equal(tagValue(pong.node.message.tags, 'From-Process'), S.B)
    assert.equal(pong.node.message.data, 'pong:hi')
    assert.equal(pong.node.message.owner?.address, S.nodeAddress)

    // Nothing else bounced between them (no "not trusted" replies, C19).
    const untrusted = [...aEdges, ...bEdges].filter((e) => /not trusted/i.test(e.node.message.data ?? ''))
    assert.deepEqual(untrusted.map((e) => e.node.message.data), [], 'no untrusted-message replies')
    S.pong = pong
    S.pingId = ping.node.message.id
  })
})

test('7b. Pushed-For names the originating user message on every hop (MU initialTxId)', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.pong, 'process to process')
  // servers/mu: every message of a crank carries `Pushed-For: ctx.cachedMsg.initialTxId`, the id
  // of the user message that started the chain, also on the second hop (B's Pong).
  const tags = S.pong.node.message.tags
  const pushedFor = tagValue(tags, 'Pushed-For')
  assert.equal(
    pushedFor,
    S.sendPing,
    `Pong (second hop) Pushed-For should be A's Send Eval ${S.sendPing} (the user message that started the chain)` +
      `${pushedFor === S.pingId ? `, not the Ping ${S.pingId} that B evaluated` : ''}: ${show(tags)}`
  )
})

test('8. GET /state/{pid}: the raw memory, octet-stream, with Last-Ordinate', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.A, 'spawn')
  await withNodeLog(async () => {
    const res = await within(CALL_MS, 'GET /state', fetch(`${S.base}/state/${S.A}`))
    const body = Buffer.from(await res.arrayBuffer())
    assert.equal(res.status, 200, `GET /state/${S.A} answered ${res.status}: ${body.subarray(0, 500).toString()}`)
    assert.match(res.headers.get('content-type') ?? '', /^application\/octet-stream/)
    assert.ok(body.length > 0, 'the state must not be empty')
    const ordinate = res.headers.get('last-ordinate')
    assert.match(ordinate ?? '', /^\d+$/, `Last-Ordinate: ${ordinate}`)
    assert.equal(ordinate, await lastSlot(S.A), 'Last-Ordinate is the last evaluated slot, i.e. the last scheduled one')
    assert.match(res.headers.get('last-timestamp') ?? '', /^\d+$/)
    assert.match(res.headers.get('last-block-height') ?? '', /^\d+$/)
  })
})

test('9. cron: a Cron-Interval process ticks, monitor() pushes its outbox, /cron pages, unmonitor() stops', { timeout: STEP_MS }, async (t) => {
  if (skipped(t)) return
  requireStep(S.B, 'process to process')
  await withNodeLog(async () => {
    S.C = await spawnAos('compute-C', [
      { name: 'Cron-Interval', value: '1-second' },
      { name: 'Cron-Tag-Action', value: 'Cron' }
    ])
    const setup = await evalOn(
      S.C,
      `Ticks = 0; Handlers.add('cron', Handlers.utils.hasMatchingTag('Action','Cron'), function(m) Ticks = Ticks + 1; Send({Target='${S.B}', Action='Tick', Data=tostring(Ticks)}) end)`,
      'C: add cron handler'
    )
    evalData(await resultOf(S.C, setup, 'C: add cron handler'), 'C: add cron handler')

    const monitored = await within(CALL_MS, 'monitor(C)', S.ao.monitor({ process: S.C, signer: S.signer }))
    // aoconnect resolves with the id of the monitor item it signed (the MU only needs the path).
    assert.match(String(monitored), /^[A-Za-z0-9_-]{43}$/, `monitor() answered ${show(monitored)}`)

    // Bounded wait: B's schedule gains Tick messages pushed for C.
    const deadline = Date.now() + PONG_WAIT_MS
    let ticks = []
    while (Date.now() < deadline) {
      ticks = (await schedule(S.B)).filter((e) => tagValue(e.node.message.tags, 'Action') === 'Tick')
      if (ticks.length >= 3) break
      await sleep(500)
    }
    assert.ok(ticks.length >= 3, `B received ${ticks.length} Tick messages from C's cron`)
    for (const e of ticks) {
      assert.equal(tagValue(e.node.message.tags, 'From-Process'), S.C)
    }
    // Pushed once each: the counters are distinct.
    const counts = ticks.map((e) => e.node.message.data)
    assert.equal(new Set(counts).size, counts.length, `duplicate ticks: ${show(counts)}`)

    // GET /cron/{C}: the CU's connection shape; a cursor pages on from there.
    const page = await (await within(CALL_MS, 'GET /cron', fetch(`${S.base}/cron/${S.C}?limit=2`))).json()
    assert.equal(page.edges.length, 2, show(page))
    assert.equal(page.pageInfo.hasNextPage, true)
    const first = JSON.parse(Buffer.from(page.edges[0].cursor, 'base64').toString())
    assert.equal(first.cron, '0-1-second')
    assert.equal(page.edges[0].node.Messages[0].Target, S.B)
    const next = await (await fetch(`${S.base}/cron/${S.C}?limit=1&from=${encodeURIComponent(page.edges[1].cursor)}`)).json()
    const data = (edge) => edge.node.Messages[0].Data
    assert.equal(Number(data(next.edges[0])), Number(data(page.edges[1])) + 1, 'the page after the cursor continues it')

    const stopped = await within(CALL_MS, 'unmonitor(C)', S.ao.unmonitor({ process: S.C, signer: S.signer }))
    assert.match(String(stopped), /^[A-Za-z0-9_-]{43}$/, `unmonitor() answered ${show(stopped)}`)
    await sleep(1500)
    const settled = (await schedule(S.B)).filter((e) => tagValue(e.node.message.tags, 'Action') === 'Tick').length
    await sleep(2500)
    const later = (await schedule(S.B)).filter((e) => tagValue(e.node.message.tags, 'Action') === 'Tick').length
    assert.equal(later, settled, 'no Tick pushed after unmonitor()')
  })
})

test('no request left the machine', (t) => {
  if (skipped(t)) return
  requireStep(S.fetchLog, 'startup')
  const outside = S.fetchLog.filter((e) => {
    const host = new URL(e.url).hostname
    return !isLoopback(host) && host !== SU_ROUTER_HOST
  })
  assert.deepEqual(outside, [])
})
