// End-to-end: the real @permaweb/aoconnect 0.0.98 (legacy mode) against the aolink node binary.
//
//   AOLINK_BIN=/path/to/aolink node --test aoconnect.test.mjs
//
// The node is started as `$AOLINK_BIN node --data-dir <fresh tmp dir> --listen 127.0.0.1:0` and
// must print `aolink node listening on http://127.0.0.1:<PORT>` and `node address: <43 chars>`.
// It serves every role aoconnect talks to: MU (`POST /`), SU (`GET /{id}`) and the gateway
// GraphQL that scheduler-utils' locate() queries.
//
// Harness (harness.mjs; ao-protocol.md A1): @permaweb/ao-scheduler-utils captures `fetch` and reads
// `process.env.GRAPHQL_URL` when it is first imported, and locate() always asks the hard-coded
// `https://su-router.ao-testnet.xyz?process-id=<pid>` first, with no catch around that fetch. So,
// BEFORE aoconnect is imported, this file sets GRAPHQL_URL to the node and replaces
// globalThis.fetch with a wrapper that answers the su-router itself with a 404 (a non-2xx makes
// locate() fall back to GraphQL; a throw would make it fail), refuses every other non-loopback
// URL, and logs every request. The test never touches the internet.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import Arweave from 'arweave'
import { createData, ArweaveSigner, DataItem } from '@dha-team/arbundles'
import {
  SU_ROUTER_HOST,
  b64url,
  sha256,
  tagValue,
  tagValues,
  isLoopback,
  startNode,
  installFetchHarness
} from './harness.mjs'

// The node, and every request any library (or this test) made: {method, url, body?, status?}.
let node = null
let fetchLog = []
let restoreFetch = null

// ---------------------------------------------------------------------------------------------
// Shared state of the scenario (the steps below run in order)
// ---------------------------------------------------------------------------------------------

const S = {
  base: null, // http://127.0.0.1:PORT
  nodeAddress: null,
  ao: null, // the connected aoconnect legacy client
  aoconnect: null, // the module
  jwk: null,
  walletAddress: null,
  processId: null,
  msg1: null, // {id, raw}
  msg2: null,
  msg3: null
}

function requireStep(value, step) {
  assert.ok(value, `an earlier step (${step}) failed; see its error`)
}

async function postRaw(bytes) {
  const res = await fetch(`${S.base}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', Accept: 'application/json' },
    body: bytes
  })
  const text = await res.text()
  let json = null
  try {
    json = JSON.parse(text)
  } catch {
    // leave null; callers assert on it
  }
  return { status: res.status, text, json }
}

/** The schedule of the process as aoconnect's getMessages returns it (the node's SU JSON). */
async function allMessages() {
  const page = await S.ao.getMessages({ processId: S.processId, from: '', to: '', limit: '1000' })
  assert.ok(page && Array.isArray(page.edges), `getMessages did not return {edges:[…]}: ${JSON.stringify(page)}`)
  return page
}

function edgeFor(page, messageId) {
  return page.edges.find((e) => e?.node?.message?.id === messageId)
}

/** The bytes aoconnect POSTed to the MU for the item with this id (captured by the harness). */
function capturedItem(id) {
  for (const entry of fetchLog) {
    if (entry.method !== 'POST' || !(entry.body instanceof Buffer)) continue
    const u = new URL(entry.url)
    if (`${u.origin}` !== S.base || (u.pathname !== '/' && u.pathname !== '')) continue
    try {
      if (new DataItem(Buffer.from(entry.body)).id === id) return Buffer.from(entry.body)
    } catch {
      // not a data item
    }
  }
  return null
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  node = await startNode({ prefix: 'aolink-aoconnect-' })
  const { base, address } = node
  S.base = base
  S.nodeAddress = address

  process.env.GRAPHQL_URL = `${base}/graphql`
  ;({ fetchLog, restore: restoreFetch } = installFetchHarness())
  // Only now: scheduler-utils captures fetch and GRAPHQL_URL at import time.
  S.aoconnect = await import('@permaweb/aoconnect')
  S.ao = S.aoconnect.connect({ MODE: 'legacy', MU_URL: base, CU_URL: base, GATEWAY_URL: base, noLog: true })

  S.jwk = await Arweave.init({}).wallets.generate()
  S.walletAddress = b64url(sha256(Buffer.from(S.jwk.n, 'base64url')))
})

after(async () => {
  if (node) await node.stop()
  if (restoreFetch) restoreFetch()
})

test('spawn: a Type=Process item POSTed raw to the MU endpoint is accepted with its id', async () => {
  const signer = new ArweaveSigner(S.jwk)
  const item = createData('process init data', signer, {
    tags: [
      { name: 'Data-Protocol', value: 'ao' },
      { name: 'Variant', value: 'ao.TN.1' },
      { name: 'Type', value: 'Process' },
      { name: 'Module', value: b64url(randomBytes(32)) },
      { name: 'Scheduler', value: S.nodeAddress },
      { name: 'SDK', value: 'aoconnect' },
      { name: 'Content-Type', value: 'text/plain' }
    ]
  })
  await item.sign(signer)
  assert.equal(await DataItem.verify(item.getRaw()), true, 'arbundles does not verify its own process item')

  const res = await postRaw(item.getRaw())
  assert.ok(res.status >= 200 && res.status < 300, `POST / (process) answered ${res.status}: ${res.text}`)
  assert.ok(res.json, `POST / (process) did not answer JSON: ${res.text}`)
  assert.equal(res.json.id, item.id, 'POST / (process) must answer the process id')
  S.processId = item.id
})

test('message: aoconnect message() is accepted and returns the item id', async () => {
  requireStep(S.processId, 'spawn')
  const id = await S.ao.message({
    process: S.processId,
    signer: S.aoconnect.createDataItemSigner(S.jwk),
    tags: [{ name: 'Action', value: 'Ping' }],
    data: 'hello'
  })
  assert.equal(typeof id, 'string')
  assert.match(id, /^[A-Za-z0-9_-]{43}$/)

  const raw = capturedItem(id)
  assert.ok(raw, 'the harness did not capture the item aoconnect POSTed to the MU')
  const item = new DataItem(raw)
  assert.equal(item.target, S.processId, 'aoconnect sets target = process')
  assert.equal(tagValue(item.tags, 'Type'), 'Message')
  S.msg1 = { id, raw }
})

test('locate(): su-router answered locally, GraphQL served by the node, SU URLs are <base>/<id>', async () => {
  requireStep(S.msg1, 'message')
  // Nothing called the SU yet (message() without returnAssignmentSlot does not locate).
  const first = await S.ao.getLastSlot({ processId: S.processId })
  assert.equal(first, '1', `getLastSlot after one message: expected "1", got ${JSON.stringify(first)}`)

  const router = fetchLog.filter((e) => new URL(e.url).hostname === SU_ROUTER_HOST)
  assert.equal(router.length, 1, 'locate() should ask the su-router exactly once (then cache)')
  assert.equal(router[0].url, `https://${SU_ROUTER_HOST}?process-id=${S.processId}`)

  const gql = fetchLog.filter((e) => e.url === `${S.base}/graphql`)
  assert.equal(gql.length, 2, 'locate() should send two GraphQL queries: the process tags, then the Scheduler-Location')
  const [q1, q2] = gql.map((e) => JSON.parse(e.body))
  assert.match(q1.query, /query GetTransactions/)
  assert.deepEqual(q1.variables, { transactionIds: [S.processId] })
  assert.match(q2.query, /query GetSchedulerLocation/)
  assert.deepEqual(q2.variables, { owner: S.nodeAddress })

  const lastSlotReq = fetchLog.filter((e) => e.url.startsWith(`${S.base}/${S.processId}?process-id=${S.processId}&limit=100&from=`))
  assert.equal(lastSlotReq.length, 1, `getLastSlot should GET ${S.base}/<pid>?process-id=<pid>&limit=100&from=<ms>`)
})

test('getMessages: the message is at slot 1 (process at slot 0), with its assignment tags', async () => {
  requireStep(S.msg1, 'message')
  // A5: from/to must be strings; an omitted limit goes out as the literal "limit=undefined".
  const before = fetchLog.length
  const page = await S.ao.getMessages({ processId: S.processId, from: '', to: '' })
  const sent = fetchLog.slice(before).map((e) => e.url)
  assert.ok(
    sent.includes(`${S.base}/${S.processId}?from=&to=&limit=undefined`),
    `getMessages should GET <base>/<pid>?from=&to=&limit=undefined, sent: ${JSON.stringify(sent)}`
  )
  assert.ok(page && Array.isArray(page.edges), `getMessages (limit=undefined) did not return {edges:[…]}: ${JSON.stringify(page)}`)
  assert.equal(typeof page.page_info?.has_next_page, 'boolean', 'page_info.has_next_page (read by the CU) is missing')

  const edge = edgeFor(page, S.msg1.id)
  assert.ok(edge, `message ${S.msg1.id} is not in getMessages: ${JSON.stringify(page)}`)
  const { message, assignment } = edge.node
  assert.equal(tagValue(assignment.tags, 'Nonce'), '1')
  assert.equal(tagValue(assignment.tags, 'Process'), S.processId)
  assert.equal(tagValue(assignment.tags, 'Message'), S.msg1.id)
  assert.equal(tagValue(assignment.tags, 'Type'), 'Assignment')
  assert.match(tagValue(assignment.tags, 'Timestamp') ?? '', /^\d+$/)
  assert.match(tagValue(assignment.tags, 'Hash-Chain') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.match(tagValue(assignment.tags, 'Block-Height') ?? '', /^\d+$/)
  assert.match(assignment.id ?? '', /^[A-Za-z0-9_-]{43}$/, 'assignment.id (the CU hash-chains over it) is missing')
  assert.deepEqual(tagValues(message.tags, 'Action'), ['Ping'])
  assert.equal(message.data, 'hello')
  assert.equal(message.owner?.address, S.walletAddress, 'message.owner.address must be the signer wallet address')

  // Whatever else is listed is in slot order; if the process itself is listed it is slot 0.
  const nonces = page.edges.map((e) => Number(tagValue(e.node.assignment.tags, 'Nonce')))
  assert.deepEqual(nonces, [...nonces].sort((a, b) => a - b), `edges are not in slot order: ${nonces}`)
  const processEdge = page.edges.find((e) => tagValue(e.node.assignment.tags, 'Nonce') === '0')
  if (processEdge) {
    assert.equal(tagValue(processEdge.node.assignment.tags, 'Process'), S.processId)
    // Slot 0's chain is seeded with the process id (Rust SU / CU): sha256(b64dec(pid)).
    assert.equal(tagValue(processEdge.node.assignment.tags, 'Hash-Chain'), b64url(sha256(Buffer.from(S.processId, 'base64url'))))
  }

  // The same with an explicit limit.
  const limited = await S.ao.getMessages({ processId: S.processId, from: '', to: '', limit: '10' })
  assert.ok(edgeFor(limited, S.msg1.id), 'message missing from getMessages with limit=10')
})

test('getMessageById: returns the message with its slot-1 assignment', async () => {
  requireStep(S.msg1, 'message')
  const before = fetchLog.length
  const res = await S.ao.getMessageById({ processId: S.processId, messageId: S.msg1.id })
  const sent = fetchLog.slice(before).map((e) => e.url)
  assert.deepEqual(sent, [`${S.base}/${S.msg1.id}?process-id=${S.processId}`])
  assert.equal(res?.message?.id, S.msg1.id, `getMessageById: ${JSON.stringify(res)}`)
  assert.equal(tagValue(res.assignment?.tags, 'Nonce'), '1')
  assert.equal(tagValue(res.assignment?.tags, 'Message'), S.msg1.id)
})

test('second message: slot 2 (via returnAssignmentSlot), hash chain links, timestamps increase', async () => {
  requireStep(S.msg1, 'message')
  const res = await S.ao.message({
    process: S.processId,
    signer: S.aoconnect.createDataItemSigner(S.jwk),
    tags: [{ name: 'Action', value: 'Ping' }, { name: 'Round', value: '2' }],
    data: 'hello again',
    returnAssignmentSlot: true,
    returnMessageId: true
  })
  // aoconnect reads the Nonce of GET <su>/<msg>?process-id=<pid> and returns it as a string.
  assert.deepEqual(Object.keys(res).sort(), ['id', 'slot'])
  assert.equal(res.slot, '2')
  assert.match(res.id, /^[A-Za-z0-9_-]{43}$/)
  S.msg2 = { id: res.id, raw: capturedItem(res.id) }
  assert.ok(S.msg2.raw, 'the harness did not capture the second message')

  assert.equal(await S.ao.getLastSlot({ processId: S.processId }), '2')

  const page = await allMessages()
  const e1 = edgeFor(page, S.msg1.id)
  const e2 = edgeFor(page, S.msg2.id)
  assert.ok(e1 && e2, `both messages must be listed: ${JSON.stringify(page)}`)
  const a1 = e1.node.assignment
  const a2 = e2.node.assignment
  assert.equal(tagValue(a2.tags, 'Nonce'), '2')
  const t1 = Number(tagValue(a1.tags, 'Timestamp'))
  const t2 = Number(tagValue(a2.tags, 'Timestamp'))
  assert.ok(Number.isSafeInteger(t1) && Number.isSafeInteger(t2), 'Timestamp tags must be integers (ms)')
  assert.ok(t2 > t1, `timestamps must strictly increase: slot 1 at ${t1}, slot 2 at ${t2}`)
  const h1 = tagValue(a1.tags, 'Hash-Chain')
  const h2 = tagValue(a2.tags, 'Hash-Chain')
  assert.ok(h1 && h2 && h1 !== h2, 'each slot needs its own Hash-Chain')
  // The CU's check (servers/cu/src/effects/worker/hashChain/main.js):
  // Hash-Chain(n) = base64url(sha256(b64dec(assignmentId(n-1)) ‖ b64dec(Hash-Chain(n-1))))
  assert.equal(h2, b64url(sha256(Buffer.from(a1.id, 'base64url'), Buffer.from(h1, 'base64url'))), 'slot 2 Hash-Chain does not link to slot 1 the way the CU verifies it')
})

test('idempotent: re-POSTing the same message bytes answers the same id and adds no slot', async () => {
  requireStep(S.msg2, 'second message')
  const res = await postRaw(S.msg1.raw)
  assert.ok(res.status >= 200 && res.status < 300, `re-POST answered ${res.status}: ${res.text}`)
  assert.equal(res.json?.id, S.msg1.id)

  assert.equal(await S.ao.getLastSlot({ processId: S.processId }), '2')
  const page = await allMessages()
  assert.equal(page.edges.filter((e) => e.node?.message?.id === S.msg1.id).length, 1, 'the message must be listed once')
  assert.equal(tagValue(edgeFor(page, S.msg1.id).node.assignment.tags, 'Nonce'), '1', 'the re-POST must keep slot 1')
})

test('tampered item: one flipped data byte is rejected with a 4xx JSON error naming the signature, and not listed', async () => {
  requireStep(S.msg2, 'second message')
  const signed = await S.ao.signMessage({
    process: S.processId,
    signer: S.aoconnect.createDataItemSigner(S.jwk),
    tags: [{ name: 'Action', value: 'Ping' }, { name: 'Round', value: '3' }],
    data: 'tamper with me'
  })
  const genuine = Buffer.from(signed.raw)
  assert.equal(new DataItem(genuine).id, signed.id)
  assert.equal(await DataItem.verify(genuine), true)

  const tampered = Buffer.from(genuine)
  tampered[tampered.length - 1] ^= 0x01 // last data byte
  assert.equal(await DataItem.verify(tampered), false, 'arbundles itself must reject the tampered item')

  const res = await postRaw(tampered)
  assert.ok(res.status >= 400 && res.status < 500, `tampered item answered ${res.status}: ${res.text}`)
  assert.ok(res.json && typeof res.json.error === 'string' && res.json.error.length > 0, `expected {"error": "..."}, got: ${res.text}`)
  assert.match(JSON.stringify(res.json), /signature/i, `the error should name the signature: ${res.text}`)

  assert.equal(await S.ao.getLastSlot({ processId: S.processId }), '2', 'a rejected item must not take a slot')
  const page = await allMessages()
  assert.equal(edgeFor(page, signed.id), undefined, 'the tampered item must not be listed')
  const byId = await (await fetch(`${S.base}/${signed.id}?process-id=${S.processId}`)).json().catch(() => null)
  assert.notEqual(byId?.message?.id, signed.id, 'the tampered item must not be retrievable by id')

  // The rejection must not poison the id: the genuine bytes are then accepted at slot 3.
  const ok = await postRaw(genuine)
  assert.ok(ok.status >= 200 && ok.status < 300, `genuine item after a tampered one answered ${ok.status}: ${ok.text}`)
  assert.equal(ok.json?.id, signed.id)
  assert.equal(await S.ao.getLastSlot({ processId: S.processId }), '3')
  S.msg3 = { id: signed.id, raw: genuine }

  const after = await allMessages()
  const t = [S.msg1, S.msg2, S.msg3].map((m) => Number(tagValue(edgeFor(after, m.id)?.node?.assignment?.tags, 'Timestamp')))
  assert.ok(t[0] < t[1] && t[1] < t[2], `timestamps must strictly increase over slots 1..3: ${t}`)
})

test('no request left the machine', () => {
  const outside = fetchLog.filter((e) => {
    const host = new URL(e.url).hostname
    return !isLoopback(host) && host !== SU_ROUTER_HOST
  })
  assert.deepEqual(outside, [])
})
