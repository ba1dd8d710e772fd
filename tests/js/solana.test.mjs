// Solana → AO end to end, as a dApp would do it: the TypeScript example of docs/solana.md
// (examples/solana-call.ts, @solana/web3.js 1.x) sends a gateway call on the local devnet, and the
// aolink node binary watching that gateway delivers it to an aos process (the real module) that
// records it with the handler docs/solana.md shows.
//
//   AOLINK_BIN=$CARGO_TARGET_DIR/debug/aolink \
//   AOLINK_SOLANA_DEVNET_BIN=$CARGO_TARGET_DIR/debug/aolink-solana-devnet \
//   AOLINK_FIXTURES=/path/to/ao-modules node --test tests/js/solana.test.mjs
//
// AOLINK_SOLANA_DEVNET_BIN defaults to aolink-solana-devnet beside AOLINK_BIN. The example is
// TypeScript: it is transpiled with the `typescript` package's transpileModule (and type-checked)
// at test time, into a temporary .mjs under node_modules so that its imports resolve. The module
// is read from $AOLINK_FIXTURES/aos-wasm64.wasm (else <repo>/../shared/fixtures/ao-modules);
// without it the end-to-end test fails if CI is set and is skipped with a notice otherwise.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn as spawnChild } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import Arweave from 'arweave'
import { createData, ArweaveSigner } from '@dha-team/arbundles'
import { Connection, Keypair, LAMPORTS_PER_SOL } from '@solana/web3.js'
import { b64url, sha256, sleep, startNode } from './harness.mjs'

const jsDir = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(jsDir, '..', '..')
const DOC = join(repoRoot, 'docs', 'solana.md')
const TS_EXAMPLE = join(jsDir, 'examples', 'solana-call.ts')
const RUST_EXAMPLE = join(repoRoot, 'adapters', 'solana', 'examples', 'send_call.rs')

const MODULE_FORMAT = 'wasm64-unknown-emscripten-draft_2024_02_15'
const LIMIT_TAGS = [
  { name: 'Memory-Limit', value: '1-gb' },
  { name: 'Compute-Limit', value: '9000000000000' }
]
const STARTUP_MS = 20_000
const CALL_WAIT_MS = 180_000 // the first evaluation compiles the module (a debug node)

const fixturesDir = process.env.AOLINK_FIXTURES || join(repoRoot, '..', 'shared', 'fixtures', 'ao-modules')
const modulePath = join(fixturesDir, 'aos-wasm64.wasm')
const haveFixture = existsSync(modulePath)
const SKIP =
  !haveFixture && !process.env.CI
    ? `NOTICE: ${modulePath} not found (set AOLINK_FIXTURES to the ao-modules fixture folder); the Solana end-to-end test is skipped`
    : null
if (SKIP) console.log(`# ${SKIP}`)

/** The fenced block of `lang` that follows `marker` in docs/solana.md. */
function docBlock(marker, lang) {
  const doc = readFileSync(DOC, 'utf8')
  const at = doc.indexOf(marker)
  assert.notEqual(at, -1, `docs/solana.md has no ${marker}`)
  const fence = `\`\`\`${lang}\n`
  const start = doc.indexOf(fence, at)
  assert.notEqual(start, -1, `docs/solana.md has no \`\`\`${lang} block after ${marker}`)
  const end = doc.indexOf('\n```\n', start + fence.length - 1)
  assert.notEqual(end, -1, `the \`\`\`${lang} block after ${marker} is not closed`)
  return doc.slice(start + fence.length, end + 1)
}

test('docs/solana.md shows the TypeScript and Rust examples exactly as they are tested', () => {
  for (const [file, lang] of [
    [TS_EXAMPLE, 'ts'],
    [RUST_EXAMPLE, 'rust']
  ]) {
    const shown = docBlock(`<!-- verbatim: ${file.slice(repoRoot.length + 1)} -->`, lang)
    assert.equal(shown, readFileSync(file, 'utf8'), `docs/solana.md's copy of ${file} differs from the file`)
  }
})

test('the TypeScript example type-checks (strict) against @solana/web3.js', () => {
  const program = ts.createProgram([TS_EXAMPLE], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: true
  })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  const text = ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => jsDir,
    getNewLine: () => '\n'
  })
  assert.equal(diagnostics.length, 0, text)
})

// ---------------------------------------------------------------------------------------------
// The end-to-end scenario
// ---------------------------------------------------------------------------------------------

const S = {
  devnet: null, // {url, genesis, stop, output}
  node: null, // {base, address, stop, output}
  configDir: null,
  transpiledDir: null,
  example: null, // the transpiled example module
  gateway: null, // base58
  mirror: null, // the gateway's mirror process id
  cluster: null // the cluster's name: the genesis hash's first 32 characters
}

/** Starts the devnet binary on a free port; resolves once it printed its RPC URL and genesis. */
function startDevnet() {
  const bin =
    process.env.AOLINK_SOLANA_DEVNET_BIN ||
    (process.env.AOLINK_BIN ? join(dirname(process.env.AOLINK_BIN), 'aolink-solana-devnet') : null)
  if (!bin) {
    return Promise.reject(new Error('set AOLINK_SOLANA_DEVNET_BIN (or AOLINK_BIN, beside which it is looked for)'))
  }
  const args = ['--listen', '127.0.0.1:0', '--slot-interval-ms', '50']
  const child = spawnChild(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const output = () => `command: ${bin} ${args.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr.slice(-20_000)}`
  const onExit = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')
  process.on('exit', onExit)
  async function stop() {
    process.off('exit', onExit)
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref())
    if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL')
  }
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err, value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err) stop().finally(() => reject(err))
      else resolve(value)
    }
    const timer = setTimeout(
      () => finish(new Error(`the devnet did not print its RPC URL within ${STARTUP_MS / 1000} s\n${output()}`)),
      STARTUP_MS
    )
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      const line = stdout.match(/solana devnet: rpc (http:\/\/127\.0\.0\.1:\d+) genesis ([1-9A-HJ-NP-Za-km-z]{32,44})\n/)
      if (line) finish(null, { url: line[1], genesis: line[2], stop, output })
    })
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-200_000)
    })
    child.on('error', (err) => finish(new Error(`could not start ${bin}: ${err.message}\n${output()}`)))
    child.on('exit', (code, signal) => finish(new Error(`the devnet exited (code ${code}, signal ${signal})\n${output()}`)))
  })
}

/** The example, transpiled from TypeScript, imported from beside node_modules. */
async function importExample() {
  const source = readFileSync(TS_EXAMPLE, 'utf8')
  const { outputText, diagnostics } = ts.transpileModule(source, {
    fileName: TS_EXAMPLE,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 }
  })
  assert.deepEqual(diagnostics, [], 'the example does not transpile')
  S.transpiledDir = mkdtempSync(join(jsDir, 'node_modules', '.aolink-examples-'))
  const file = join(S.transpiledDir, 'solana-call.mjs')
  writeFileSync(file, outputText)
  return import(pathToFileURL(file).href)
}

async function post(path, body, contentType) {
  const res = await fetch(`${S.node.base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, Accept: 'application/json' },
    body
  })
  const text = await res.text()
  assert.ok(res.status >= 200 && res.status < 300, `POST ${path} answered ${res.status}: ${text}`)
  return JSON.parse(text)
}

async function getJson(path) {
  const res = await fetch(`${S.node.base}${path}`)
  assert.equal(res.status, 200, `GET ${path}`)
  return res.json()
}

/** Signs an ANS-104 item with arbundles and posts it to the node; returns its id. */
async function postItem(signer, data, tags, target) {
  const item = createData(data, signer, {
    ...(target ? { target } : {}),
    tags: [{ name: 'Data-Protocol', value: 'ao' }, { name: 'Variant', value: 'ao.TN.1' }, ...tags]
  })
  await item.sign(signer)
  const answer = await post('/', item.getRaw(), 'application/octet-stream')
  assert.equal(answer.id, item.id)
  return item.id
}

/** Polls `read` until `done(value)` or the deadline; returns the last value. */
async function until(what, ms, read, done) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not within ${ms / 1000} s; last ${JSON.stringify(value)}\n--- status ---\n${JSON.stringify(
          await getJson('/status')
        )}\n--- node ---\n${S.node.output().slice(-6000)}\n--- devnet ---\n${S.devnet.output().slice(-3000)}`
      )
    }
    await sleep(250)
  }
}

/** Starts the devnet and the node watching a fresh gateway on it. */
async function setUp() {
  if (!haveFixture) {
    throw new Error(`CI is set and the module fixture ${modulePath} is missing (set AOLINK_FIXTURES)`)
  }
  S.devnet = await startDevnet()
  S.cluster = S.devnet.genesis.slice(0, 32)
  S.gateway = Keypair.generate().publicKey.toBase58()
  S.configDir = mkdtempSync(join(tmpdir(), 'aolink-solana-config-'))
  const config = join(S.configDir, 'aolink.toml')
  writeFileSync(
    config,
    [
      '[[solana]]',
      `cluster = "${S.devnet.genesis}"`,
      `rpc = "${S.devnet.url}"`,
      'commitment = "confirmed"',
      'poll_interval_ms = 50',
      '',
      '[[solana.gateways]]',
      `address = "${S.gateway}"`,
      ''
    ].join('\n')
  )
  S.node = await startNode({ prefix: 'aolink-solana-', args: ['--config', config] })
  const mirror = S.node
    .output()
    .match(new RegExp(`mirror: chain solana:${S.cluster} contract ${S.gateway} process ([A-Za-z0-9_-]{43})\\n`))
  assert.ok(mirror, `the node did not print the gateway's mirror\n${S.node.output()}`)
  S.mirror = mirror[1]
  S.example = await importExample()
}

after(async () => {
  if (S.node) await S.node.stop()
  if (S.devnet) await S.devnet.stop()
  for (const dir of [S.configDir, S.transpiledDir]) if (dir) rmSync(dir, { recursive: true, force: true })
})

test('a call sent with the TypeScript example reaches an aos process with the sender, cluster and request id', { timeout: 600_000 }, async (t) => {
  if (SKIP) return t.skip(SKIP)
  await setUp()

  // An aos process (the real module) that trusts the node, with the handler docs/solana.md shows.
  const jwk = await Arweave.init({}).wallets.generate()
  const owner = b64url(sha256(Buffer.from(jwk.n, 'base64url')))
  const signer = new ArweaveSigner(jwk)
  const moduleId = await postItem(signer, readFileSync(modulePath), [
    { name: 'Type', value: 'Module' },
    { name: 'Module-Format', value: MODULE_FORMAT },
    { name: 'Input-Encoding', value: 'JSON-1' },
    { name: 'Output-Encoding', value: 'JSON-1' },
    ...LIMIT_TAGS,
    { name: 'Content-Type', value: 'application/wasm' }
  ])
  const pid = await postItem(signer, '1984', [
    { name: 'Type', value: 'Process' },
    { name: 'Module', value: moduleId },
    { name: 'Scheduler', value: S.node.address },
    { name: 'Authority', value: S.node.address },
    ...LIMIT_TAGS
  ])
  const handler = docBlock('<!-- evaluated by tests/js/solana.test.mjs -->', 'lua').replace('<mirror process id>', S.mirror)
  assert.notEqual(handler.indexOf(S.mirror), -1, "the doc's handler names no mirror to replace")
  await postItem(signer, handler, [{ name: 'Type', value: 'Message' }, { name: 'Action', value: 'Eval' }], pid)

  // A fresh Solana keypair with some SOL sends the call with the example's sendCall.
  const connection = new Connection(S.devnet.url, 'confirmed')
  const sender = Keypair.generate()
  const airdrop = await connection.requestAirdrop(sender.publicKey, LAMPORTS_PER_SOL)
  await until(
    'the airdrop confirmed',
    30_000,
    async () => (await connection.getSignatureStatuses([airdrop])).value[0]?.confirmationStatus,
    (status) => status === 'confirmed' || status === 'finalized'
  )
  const signature = await S.example.sendCall(S.devnet.url, sender, S.gateway, {
    process: pid,
    action: 'Ping',
    data: 'hello from TypeScript',
    tags: { Note: 'ts' }
  })
  assert.match(signature, /^[1-9A-HJ-NP-Za-km-z]{64,88}$/)

  // The process records it (read by a dry-run Eval, which stores nothing).
  const dryRun = async () => {
    const result = await post(
      `/dry-run?process-id=${pid}`,
      JSON.stringify({
        Tags: [{ name: 'Action', value: 'Eval' }],
        Data: "return require('json').encode(Calls or {})",
        From: owner,
        Owner: owner
      }),
      'application/json'
    )
    assert.equal(result.Error, undefined, JSON.stringify(result))
    return JSON.parse(result.Output?.data || '[]')
  }
  const calls = await until('the call recorded by the process', CALL_WAIT_MS, dryRun, (c) => c.length > 0)
  assert.equal(calls.length, 1, JSON.stringify(calls))
  assert.deepEqual(calls[0], {
    Action: 'Ping',
    Chain: `solana:${S.cluster}`,
    Gateway: S.gateway,
    Sender: sender.publicKey.toBase58(),
    Request: `${signature}:0`,
    Tx: signature,
    Note: 'ts',
    Data: 'hello from TypeScript'
  })

  // The watcher's report: healthy, the call delivered, nothing passed over.
  const status = await getJson('/status')
  const component = status.components[`solana/${S.cluster}`]
  assert.ok(component, JSON.stringify(status))
  assert.equal(component.kind, 'solana')
  assert.equal(component.chainId, `solana:${S.cluster}`)
  assert.equal(component.finality, 'confirmed')
  assert.equal(component.healthy, true, JSON.stringify(component))
  assert.ok(component.eventsDelivered >= 1, JSON.stringify(component))
  assert.equal(component.contracts[0].address, S.gateway)
  assert.equal(component.contracts[0].mirror, S.mirror)
  assert.deepEqual(component.contracts[0].passedOver, {
    failedTransactions: 0,
    withoutCalls: 0,
    malformedCalls: 0,
    foundLate: 0
  })
  assert.equal(status.unroutedChainCalls.count, 0, JSON.stringify(status))

  // A call naming a process the node does not have reaches nothing and is counted.
  const nowhere = 'NoSuchProcessNoSuchProcessNoSuchProcess0000'
  const lost = await S.example.sendCall(S.devnet.url, sender, S.gateway, { process: nowhere, action: 'Ping' })
  const unrouted = await until(
    'the unrouted call counted',
    60_000,
    async () => (await getJson('/status')).unroutedChainCalls,
    (u) => u.count === 1
  )
  assert.ok(unrouted.last.includes(lost) && unrouted.last.includes(nowhere), JSON.stringify(unrouted))
  const metrics = await (await fetch(`${S.node.base}/metrics`)).text()
  assert.match(metrics, /^aolink_unrouted_chain_calls 1$/m)
  assert.match(metrics, new RegExp(`^aolink_solana_healthy\\{component="solana/${S.cluster}"\\} 1$`, 'm'))
  assert.match(
    metrics,
    new RegExp(`^aolink_solana_contracts_behind\\{component="solana/${S.cluster}",address="${S.gateway}"\\} \\d+$`, 'm')
  )
  assert.equal((await dryRun()).length, 1, 'the process got the one call meant for it')
})
