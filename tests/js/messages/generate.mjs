#!/usr/bin/env node
// Generates the message sequences of aolink's differential tests (relayer/tests/differential.rs):
//
//   aos2.jsonl     aos 2.0.0: aos-wasm64.wasm and aos-wasm32-em4.wasm
//   aos1.jsonl     aos 1.x:   aos-wasm32-em2.wasm (no Assign, no Receive, function patterns only)
//   counter.jsonl  the small Lua process in counter-wasm32.wasm (echo / inc / Random / Assignment)
//
// and, next to each, `<name>.expect.json`: what ao-loader must answer for some messages
// (checked by check.mjs, so that a sequence that silently stops doing what it is meant to do
// is noticed). Every message not marked as an error must evaluate without `Error`.
//
//   node tests/js/messages/generate.mjs          # rewrite the files
//   node tests/js/messages/check.mjs             # run them through ao-loader and check
//
// Rules the sequences follow (see ../../../../shared/docs/ao-protocol.md, corrections part 2):
// - The first message is the process message itself (Id == Target, Type=Process) and carries
//   Id, Owner, Module (root field and tag), Block-Height, Timestamp and Tags (C16). Its Tags
//   become env.Process.Tags under the default env of ao-loader-eval.mjs.
// - Every message has Id, Target, Owner, From, Tags, Data, a strictly increasing Timestamp and
//   Block-Height, Epoch, Nonce and Cron=false, as the CU passes them (§3.9).
// - No os.time / os.date / os.clock / os.execute / os.getenv / io.popen (they read JS-side clocks,
//   run commands on em4, or expose host paths: C5, C6, C10), and nothing that prints a table or
//   function address (tostring of a table/function): a synchronous host's heap differs from
//   ao-loader's by the Asyncify buffers (C1), so addresses need not match.
// - The counter process loops forever on any unknown action (including none), so every counter
//   message has one of its known actions; Memory (unbounded allocation) is not used here.

import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** A deterministic 43-character base64url id (the shape of an Arweave id or address). */
export function id (label) {
  return createHash('sha256').update('aolink-differential:' + label).digest('base64url')
}

const OWNER = id('owner')              // signs the process and all Evals
const MU = id('mu-wallet')             // signs pushed messages; listed as an Authority
const PEER = id('peer-process')        // another process that sends us messages
const PEER2 = id('peer-process-2')
const STRANGER = id('stranger')        // not trusted
const OTHER = id('other-wallet')       // a wallet that is neither Owner nor Authority
const MODULE = id('module')
const CHILD_MODULE = id('child-module')

class Sequence {
  constructor (name, pid) {
    this.name = name
    this.pid = pid
    this.messages = []
    this.expect = {}
  }

  /**
   * Adds a message. `tags` is an object or an array of [name, value]; `from`/`owner` default to
   * the process owner; `expect` is a list of checks for check.mjs; `error: true` marks a message
   * whose result must be an error.
   */
  add ({ tags = {}, data = '', from = OWNER, owner = from, id: msgId, extra = {}, expect = [], error = false }) {
    const n = this.messages.length
    const tagList = Array.isArray(tags)
      ? tags.map(([name, value]) => ({ name, value }))
      : Object.entries(tags).map(([name, value]) => ({ name, value }))
    const msg = {
      Id: msgId ?? id(`${this.name}:${n}`),
      Target: this.pid,
      Owner: owner,
      From: from,
      ...extra,
      Tags: tagList,
      Data: data,
      Timestamp: 1735689600000 + n * 1013,
      'Block-Height': 1580000 + n,
      Epoch: 0,
      Nonce: n,
      Cron: false
    }
    this.messages.push(msg)
    this.expect[n] = { error, checks: expect }
    return n
  }

  eval (code, opts = {}) {
    return this.add({ ...opts, tags: { Action: 'Eval', ...(opts.tags ?? {}) }, data: code })
  }

  write () {
    const jsonl = this.messages.map((m) => JSON.stringify(m)).join('\n') + '\n'
    writeFileSync(join(here, `${this.name}.jsonl`), jsonl)
    writeFileSync(join(here, `${this.name}.expect.json`), JSON.stringify(this.expect, null, 1) + '\n')
    return { name: this.name, messages: this.messages.length, bytes: jsonl.length }
  }
}

// Expectation helpers (interpreted by check.mjs): a dotted path into the result and a test.
const eq = (path, value) => ({ path, equals: value })
const has = (path, text) => ({ path, contains: text })
const len = (path, n) => ({ path, length: n })
const absent = (path) => ({ path, absent: true })
// aos 1 reports an Eval's raw value (a JSON number, boolean or string): compare it as text, and
// numbers numerically (Lua's 1024.0 is encoded as 1024).
const loose = (path, text) => ({ path, loosely: text })

/** A deterministic pseudo-random printable string of `n` bytes (no quotes or backslashes). */
function filler (n, seed) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;:-_+=*/()[]{}<>!?#%&|~^@$'
  let x = seed >>> 0
  let s = ''
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    s += alphabet[(x >>> 16) % alphabet.length]
  }
  return s
}

// ---------------------------------------------------------------------------------------------
// Lua snippets shared by both aos versions (plain Lua 5.3 plus aos globals).
// `out(v)` is how each version reports an Eval's value in Output (aos 2: data is a string;
// aos 1: data.output is the raw value).
function commonEvals (s, out) {
  // arithmetic and number formatting
  s.eval('return 1 + 2 * 3', { expect: [out('7')] })
  s.eval("function J(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end return table.concat(t, ' ') end return 'J defined'")
  s.eval('return J(7 // 2, 7 % 3, -7 // 2, -7 % 3, 7.5 // 2)', { expect: [out('3 1 -4 2 3.0')] })
  // aos takes an Eval's second return value as its error
  s.eval("return 1, 'a second value is an error'", { error: true, expect: [has('Error', 'a second value is an error')] })
  s.eval('return 2^10', { expect: [out('1024.0')] })
  s.eval('return 10 / 3')
  s.eval('return math.maxinteger + 1 == math.mininteger')
  s.eval('return 0.1 + 0.2')
  s.eval("return string.format('%5.2f|%d|%s|%q|%x|%g|%e|%10.3s|%-5d|', math.pi, 42, 'hi', 'a\\nb\"c', 255, 1e20, 12345.678, 'abcdef', 7)")
  s.eval("return string.format('%.14g %.17g %a', 1/3, 2/3, 1.0)")
  s.eval('return J(1e308 * 10, -1e308 * 10, math.huge // 1, -(0/0) ~= -(0/0))')
  s.eval('return J(math.type(1), math.type(1.0), math.type("1"), 1 == 1.0, math.ult(1, -1))')
  s.eval('return J(math.floor(-3.5), math.ceil(-3.5), math.abs(-2^63), math.fmod(7, -3), math.tointeger(3.0), math.sqrt(2), math.sin(1), math.exp(1), math.log(10, 2))')
  s.eval('return J(3 & 5, 3 | 5, 3 ~ 5, ~0, 1 << 62, -1 >> 60, 1 << 64)', { expect: [out('1 7 6 -1 4611686018427387904 15 0')] })
  // strings
  s.eval("return ('Hello'):upper() .. ('WORLD'):lower() .. ('abc'):reverse() .. ('abcdef'):sub(2, -2)")
  s.eval("local r, n = string.gsub('the quick brown fox', '(%w+)', '<%1>') return r .. ' ' .. n")
  s.eval("local t = {} for k, v in string.gmatch('a=1, b=2, c=3', '(%w+)=(%w+)') do t[#t + 1] = k .. v end return table.concat(t, ';')")
  s.eval("return J(string.find('hello world', 'o w'), string.match('key: value', '(%w+): (%w+)'))", { expect: [out('5 key value')] })
  s.eval("return J(string.byte('ABC', 1, -1), string.char(72, 105))", { expect: [out('65 Hi')] })
  s.eval("return J(utf8.char(72, 233, 8364, 128512), utf8.len('h\u00e9llo \u2713'), #'\u65e5\u672c')")
  s.eval("return 'h\u00e9llo \u2713 \u65e5\u672c\u8a9e \ud83d\ude00'")
  s.eval("return 'nul:\\0:tab:\\t:bell:\\a:esc:\\27[0m'")
  s.eval("return 'bad utf8: \\xff\\xfe\\xc3 end'")
  s.eval("return J(string.pack('>I4i2', 0x01020304, -2):byte(1, -1))", { expect: [out('1 2 3 4 255 254')] })
  s.eval("return #string.rep('ab', 1000, ',')")
  // tables
  s.eval("local t = {5, 3, 8, 1, 9, 2} table.sort(t) return table.concat(t, ',')")
  s.eval("local t = {'pear', 'Apple', 'fig', 'banana'} table.sort(t, function(a, b) return a:lower() < b:lower() end) return table.concat(t, ' ')")
  s.eval("local t = {1, 2, 3} table.insert(t, 2, 10) table.remove(t, 1) return J(select('#', table.unpack(t)), table.unpack(t))", { expect: [out('3 10 2 3')] })
  s.eval("Store = {} for i = 1, 100 do Store['k' .. i] = i * i end local sum = 0 for k, v in pairs(Store) do sum = sum + v end return sum")
  // pairs order follows Lua's string-hash seed, made at lua_newstate from time(NULL), the heap
  // address of the state and a stack address (so it also depends on the length of the first
  // message and env strings, which ccall puts on the stack). Sorted here; the unsorted order is
  // checked once below, on purpose.
  s.eval("local keys = {} for k in pairs(Store) do keys[#keys + 1] = k end table.sort(keys) return table.concat(keys, ',', 1, 20)")
  // Hash-seed parity: raw pairs order. ao-loader-eval.mjs pins the one host-dependent input of
  // the seed (the glue's thisProgram, C6), so a host that lays memory out as ao-loader does
  // reproduces this order exactly; a host whose clock, environment or argument strings differ
  // does not.
  s.eval("local keys = {} for k in pairs(Store) do keys[#keys + 1] = k end return table.concat(keys, ',', 1, 20)")
  s.eval("return J(#Store, Store.k7, Store['k100'])", { expect: [out('0 49 10000')] })
  // closures and state carried across messages
  s.eval('function MakeCounter() local n = 0 return function(d) n = n + (d or 1) return n end end Ctr = MakeCounter() return Ctr()')
  s.eval('Ctr(5) return Ctr()', { expect: [out('7')] })
  s.eval('local fs = {} for i = 1, 5 do fs[i] = function() return i * 10 end end return fs[2]() + fs[5]()')
  // metatables
  s.eval(String.raw`
V = {}
V.__index = V
V.__add = function(a, b) return setmetatable({x = a.x + b.x, y = a.y + b.y}, V) end
V.__eq = function(a, b) return a.x == b.x and a.y == b.y end
V.__lt = function(a, b) return a.x < b.x end
V.__len = function(a) return 2 end
V.__tostring = function(a) return '(' .. a.x .. ',' .. a.y .. ')' end
V.__concat = function(a, b) return tostring(a) .. tostring(b) end
V.__call = function(self, k) return self.x * k end
function V.new(x, y) return setmetatable({x = x, y = y}, V) end
local a, b = V.new(1, 2), V.new(3, 4)
return tostring(a + b) .. ' ' .. tostring(a == V.new(1, 2)) .. ' ' .. tostring(a < b) .. ' ' .. #a .. ' ' .. (a .. b) .. ' ' .. a(7)`)
  s.eval("local d = setmetatable({}, {__index = function(t, k) return k .. '!' end, __newindex = function(t, k, v) rawset(t, k, v * 2) end}) d.x = 21 return J(d.x, d.y, rawget(d, 'y'))", { expect: [out('42 y! nil')] })
  s.eval('return tostring(V.new(5, 6) + V.new(1, 1))', { expect: [out('(6,7)')] })
  // coroutines
  s.eval(String.raw`
local function gen(n) return coroutine.wrap(function() for i = 1, n do coroutine.yield(i * i) end return 'done' end) end
local g, t = gen(4), {}
for i = 1, 5 do t[#t + 1] = tostring(g()) end
local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b) local d, e = coroutine.yield(c * 2) return d + e end)
local r = {}
r[#r + 1] = tostring(select(2, coroutine.resume(co, 1, 2)))
r[#r + 1] = tostring(select(2, coroutine.resume(co, 10)))
r[#r + 1] = tostring(select(2, coroutine.resume(co, 3, 4)))
r[#r + 1] = coroutine.status(co)
r[#r + 1] = tostring(coroutine.resume(co))
return table.concat(t, ',') .. ' | ' .. table.concat(r, ',')`)
  s.eval("local co = coroutine.create(function() error('inside coroutine') end) local ok, e = coroutine.resume(co) return tostring(ok) .. ' ' .. e")
  s.eval("local co = coroutine.wrap(function() local ok, e = pcall(function() coroutine.yield(1) error('after yield') end) coroutine.yield(e) end) return J(co(), co())")
  // json
  s.eval("local json = require('json') return json.encode({1, 2, 'three', {four = 4}, true})")
  s.eval("local json = require('json') local t = json.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9\",\"d\":1.5e3}') return #t.a .. ' ' .. t.c .. ' ' .. t.d .. ' ' .. tostring(t.a[3].b)")
  // single-key objects only: a multi-key object's encoding follows pairs order (see above)
  s.eval("local json = require('json') return json.encode({{name = 'aolink'}, {list = {3, 2, 1}}, {nested = {n = 0.5}}, {s = 'quote\" backslash\\\\ nl\\n'}})")
  // multi-key objects: the encoding follows pairs order (hash-seed parity, as above)
  s.eval("local json = require('json') return json.encode({name = 'aolink', list = {3, 2, 1}, nested = {ok = true, n = 0.5}, s = 'quote\" backslash\\\\ nl\\n'})")
  // pcall inside Eval, and values that survive
  s.eval("local ok, e = pcall(error, 'caught') return tostring(ok) .. ' ' .. e", { expect: [out('false caught')] })
  s.eval("local ok, e = pcall(function() local t = nil return t.x end) return J(ok, e)")
  s.eval("local ok, e = pcall(error, {code = 42}) return J(type(e), e.code)", { expect: [out('table 42')] })
  s.eval("local ok, e = xpcall(function() return nil + 1 end, function(m) return 'handled: ' .. m end) return e")
  s.eval("local ok, e = pcall(string.rep) return e")
  s.eval("local ok, e = pcall(load, 'return +') return tostring(ok) .. ' ' .. tostring(e)")
  s.eval("local f, e = load('return 1 +') return tostring(f) .. ' | ' .. e")
  s.eval("local f = load('return ...') return J(f(1, 2, 3))", { expect: [out('1 2 3')] })
  // a large table: memory grows, and the state is carried to the next message
  s.eval('Big = {} for i = 1, 200000 do Big[i] = i * 3 end return #Big')
  s.eval('local s = 0 for i = 1, #Big, 1000 do s = s + Big[i] end return J(s, #Big)', { expect: [out('59700600 200000')] })
  // random numbers: aos seeds them from the first message (deterministic)
  s.eval('local t = {} for i = 1, 8 do t[i] = math.random(1, 1000) end return table.concat(t, ",")')
  s.eval('return J(math.random(1, 6), math.random(100), math.random())')
}

// Errors, and checks that an errored message's changes are discarded (C13).
function commonErrors (s, out) {
  s.eval("Marker = 'before'")
  s.eval("Marker = 'changed' error('x')", { error: true, expect: [has('Error', 'x')] })
  s.eval('return Marker', { expect: [out('before')] })
  s.eval("error('boom with detail: ' .. 42)", { error: true, expect: [has('Error', 'boom with detail: 42')] })
  s.eval("error('level zero', 0)", { error: true, expect: [has('Error', 'level zero')] })
  s.eval('error({code = 7})', { error: true })
  s.eval('local t = nil return t.field', { error: true, expect: [has('Error', 'attempt to index a nil value')] })
  s.eval('return 1 + {}', { error: true, expect: [has('Error', 'attempt to perform arithmetic')] })
  s.eval("return #nil", { error: true })
  s.eval("return ('x'):bad()", { error: true })
  s.eval("return string.rep('x', -1) .. nil", { error: true })
  s.eval('return 1 +', { error: true })
  s.eval('x = = 1', { error: true })
  s.eval('for i = 1 do end', { error: true })
  s.eval("local s = 'unterminated", { error: true })
  s.eval('local function f() return 1 + f() end return f()', { error: true, expect: [has('Error', 'stack overflow')] })
  s.eval("local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x", { error: true })
  s.eval("error(string.rep('long error ', 200))", { error: true })
  s.eval("return 'still alive ' .. Marker", { expect: [out('still alive before')] })
}

// ---------------------------------------------------------------------------------------------
// aos 2.0.0 (aos-wasm64.wasm, aos-wasm32-em4.wasm)
function aos2 () {
  const PID = id('aos2-process')
  const s = new Sequence('aos2', PID)
  const out = (text) => eq('Output.data', text)

  s.add({
    id: PID,
    extra: { Module: MODULE },
    tags: [
      ['Data-Protocol', 'ao'], ['Variant', 'ao.TN.1'], ['Type', 'Process'], ['Module', MODULE],
      ['Scheduler', id('scheduler')], ['Authority', MU], ['Name', 'differential'],
      ['Memory-Limit', '1-gb'], ['Compute-Limit', '9000000000000'], ['SDK', 'aolink-differential']
    ],
    data: '',
    expect: [len('Messages', 0), len('Spawns', 0), len('Assignments', 0)]
  })
  s.eval("return 'Hello World'", { expect: [out('Hello World')] })
  s.eval('count = 1 return count', { expect: [out('1')] })
  s.eval('count = count + 1 return count', { expect: [out('2')] })
  s.eval("print('printed line') print(1, nil, true) return 'after print'")
  s.eval('return nil')
  s.eval('return {1, 2, 3}')
  s.eval("return {a = 1}")
  s.eval("return Name .. ' ' .. tostring(Owner == ao.env.Process.Owner) .. ' ' .. tostring(ao.id == ao.env.Process.Id)", { expect: [out('differential true true')] })
  commonEvals(s, out)
  commonErrors(s, out)

  // large outputs
  s.eval("return string.rep('abc', 50000)", { expect: [{ path: 'Output.data', size: 150000 }] })
  s.eval("local t = {} for i = 1, 3000 do t[i] = 'line ' .. i end return table.concat(t, '\\n')")
  s.eval("for i = 1, 300 do print('p' .. i) end return 'printed 300'")

  // Send / Spawn / Assign
  s.eval(`Send({Target = '${PEER}', Action = 'Ping', Data = 'hello'}) return 'sent'`,
    { expect: [len('Messages', 1), eq('Messages.0.Target', PEER), eq('Messages.0.Data', 'hello')] })
  s.eval(`for i = 1, 3 do Send({Target = '${PEER2}', Action = 'Batch', Data = 'n' .. i, Index = tostring(i)}) end return 'three'`,
    { expect: [len('Messages', 3)] })
  s.eval(`Send({Target = '${PEER}', Action = 'Transfer', Quantity = 5, Recipient = '${PEER2}', Tags = {['X-Note'] = 'tags table', Memo = 'm'}}) return 'numeric tag'`,
    { expect: [len('Messages', 1)] })
  s.eval(`Send({Target = '${PEER}', Data = 'array tags', Tags = {{name = 'First', value = '1'}, {name = 'Second', value = '2'}}}) return 'ok'`)
  s.eval(`local tags = {} for i = 1, 50 do tags['Tag-' .. i] = 'value-' .. i end Send({Target = '${PEER}', Action = 'ManyTags', Tags = tags}) return 'many'`,
    { expect: [len('Messages', 1)] })
  s.eval(`Spawn('${CHILD_MODULE}', {Data = 'child data', Name = 'kid', ['Custom-Tag'] = 'c'}) return 'spawned'`,
    { expect: [len('Spawns', 1), eq('Spawns.0.Data', 'child data')] })
  s.eval("Spawn({Tags = {Name = 'default-module-child'}}) return 'spawned 2'", { expect: [len('Spawns', 1), eq('Spawns.0.Data', 'NODATA')] })
  s.eval(`Assign({Processes = {'${PEER}', '${PEER2}'}, Message = '${id('assigned-message')}'}) return 'assigned'`,
    { expect: [len('Assignments', 1), eq('Assignments.0.Message', id('assigned-message'))] })
  s.eval(`Send({Target = '${PEER}', Action = 'A'}) Spawn('${CHILD_MODULE}', {Data = 'b'}) Assign({Processes = {'${PEER}'}, Message = '${id('m2')}'}) print('all three') return 'mixed'`,
    { expect: [len('Messages', 1), len('Spawns', 1), len('Assignments', 1)] })
  s.eval(`Send({Target = '${PEER}', Action = 'Lost'}) error('send then fail')`, { error: true })

  // handlers added by Eval, triggered by pushed messages (From = a process, Owner = the MU,
  // which is an Authority)
  const pushed = (tags, data = '', from = PEER) => ({ tags, data, from, owner: MU })
  s.eval(String.raw`
Handlers.add('ping', {Action = 'Ping'}, function(msg)
  msg.reply({Action = 'Pong', Data = 'pong: ' .. (msg.Data or '')})
  print('ponged ' .. msg.From)
end)
Handlers.add('count', 'Count', function(msg)
  Counter = (Counter or 0) + tonumber(msg.Amount)
  print('Counter = ' .. Counter)
end)
Handlers.add('bad', Handlers.utils.hasMatchingTag('Action', 'Bad'), function(msg)
  Counter = -1000
  error('handler boom')
end)
Handlers.add('big', 'Big', function(msg)
  Sizes = Sizes or {}
  table.insert(Sizes, #msg.Data)
  Send({Target = msg.From, Action = 'Size', Data = tostring(#msg.Data), Head = msg.Data:sub(1, 10)})
end)
Handlers.add('tags', 'TagCount', function(msg)
  local n = 0 for _ in pairs(msg.Tags) do n = n + 1 end
  print('tags: ' .. n .. ' T-7=' .. tostring(msg['T-7']) .. ' TagArray=' .. #msg.TagArray)
end)
Handlers.add('json', 'Json', function(msg)
  print('json: ' .. msg.Data.name .. ' ' .. #msg.Data.items)
end)
Handlers.once('once', 'Once', function(msg) print('once ran') end)
Handlers.add('continue', function(msg) return msg.Action == 'Chain' and 'continue' or 'skip' end,
  function(msg) Chain = (Chain or '') .. 'a' end)
Handlers.add('chain-end', 'Chain', function(msg) Chain = Chain .. 'b' print('chain ' .. Chain) end)
Handlers.add('asker', 'Ask', function(msg)
  local answer = Receive({Action = 'Answer'})
  print('answer: ' .. answer.Data)
  Send({Target = msg.From, Action = 'Asked', Data = answer.Data})
end)
return #Handlers.list`)
  s.add(pushed({ Action: 'Ping' }, 'are you there?'), { expect: [] })
  s.add({ ...pushed({ Action: 'Ping' }, 'are you there?'),
    expect: [len('Messages', 1), eq('Messages.0.Target', PEER), eq('Messages.0.Data', 'pong: are you there?')] })
  s.add({ ...pushed({ Action: 'Count', Amount: '5' }), expect: [has('Output.data', 'Counter = 5')] })
  s.add({ ...pushed({ Action: 'Count', Amount: '37' }), expect: [has('Output.data', 'Counter = 42')] })
  s.add({ ...pushed({ Action: 'Bad' }), error: true, expect: [has('Error', 'handler boom')] })
  s.eval('return Counter', { expect: [out('42')] })
  const big = filler(120 * 1024, 7)
  s.add({ ...pushed({ Action: 'Big' }, big), expect: [len('Messages', 1), eq('Messages.0.Data', String(big.length))] })
  s.eval(`local s = "${filler(110 * 1024, 11)}" return J(#s, s:sub(1, 12))`, { expect: [out(`${110 * 1024} ${filler(110 * 1024, 11).slice(0, 12)}`)] })
  s.add({ ...pushed({ Action: 'Unhandled', Note: 'to inbox' }, filler(100 * 1024 + 17, 13)) })
  s.eval('return J(#Inbox, #Inbox[#Inbox].Data, Inbox[#Inbox].Note)')
  const many = [['Action', 'TagCount']]
  for (let i = 0; i < 120; i++) many.push([`T-${i}`, `value ${i} ${'x'.repeat(i % 7)}`])
  s.add({ ...pushed(many), expect: [has('Output.data', 'tags: ')] })
  s.add({ ...pushed({ Action: 'Json', 'Content-Type': 'application/json' }, JSON.stringify({ name: 'thing', items: [1, 2, 3, 4] })),
    expect: [has('Output.data', 'json: thing 4')] })
  s.add({ ...pushed({ Action: 'Once' }), expect: [has('Output.data', 'once ran')] })
  s.add({ ...pushed({ Action: 'Once' }) })
  s.add({ ...pushed({ Action: 'Chain' }), expect: [has('Output.data', 'chain ab')] })
  s.add({ ...pushed({ Action: 'Ask' }) })
  s.add({ ...pushed({ Action: 'Answer' }, '42 is the answer'),
    expect: [has('Output.data', 'answer: 42 is the answer'), len('Messages', 1)] })
  s.eval("Handlers.remove('ping') return #Handlers.list")
  s.add({ ...pushed({ Action: 'Ping' }, 'removed?'), expect: [len('Messages', 0)] })
  // trust: an untrusted message, and an Eval from a wallet that is not the process owner (C19, C21)
  s.add({ tags: { Action: 'Ping' }, data: 'let me in', from: STRANGER, owner: OTHER, expect: [len('Messages', 1), eq('Messages.0.Target', STRANGER)] })
  s.add({ tags: { Action: 'Eval' }, data: "Owner = 'hijacked' return 1", from: OTHER, owner: OTHER })
  s.eval("return Owner == '" + OWNER + "'", { expect: [out('true')] })
  // a handler error deep in a call chain, then recovery
  s.eval("function Deep(n) if n == 0 then error('deep error') end return Deep(n - 1) end Handlers.add('deep', 'Deep', function() Deep(50) end) return 'deep added'")
  s.add({ ...pushed({ Action: 'Deep' }), error: true, expect: [has('Error', 'deep error')] })
  s.eval('return J(#Handlers.list, Counter, #Inbox)')
  // crypto shipped with aos 2
  s.eval("local crypto = require('.crypto') return crypto.digest.sha2_256(crypto.utils.stream.fromString('abc')).asHex()",
    { expect: [out('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')] })
  s.eval("local crypto = require('.crypto') return crypto.digest.keccak256(string.rep('aolink', 5000)).asHex()")
  s.eval("local ok, e = pcall(require, 'no.such.module') return tostring(ok)", { expect: [out('false')] })
  s.eval('return 40 + 2', { expect: [out('42')] })
  return s
}

// ---------------------------------------------------------------------------------------------
// aos 1.x (aos-wasm32-em2.wasm): Eval Output is {data = {json, prompt, output}}, handlers take
// function patterns only, there is no Assign, no Receive and no trust check (C17, C19, C20).
function aos1 () {
  const PID = id('aos1-process')
  const s = new Sequence('aos1', PID)
  const out = (text) => loose('Output.data.output', text)

  s.add({
    id: PID,
    extra: { Module: MODULE },
    tags: [
      ['Data-Protocol', 'ao'], ['Variant', 'ao.TN.1'], ['Type', 'Process'], ['Module', MODULE],
      ['Scheduler', id('scheduler')], ['Authority', MU], ['Name', 'differential-1'],
      ['Memory-Limit', '500-mb'], ['Compute-Limit', '9000000000000']
    ],
    data: '',
    expect: [len('Messages', 0), len('Spawns', 0), absent('Assignments')]
  })
  s.eval("return 'Hello World'", { expect: [eq('Output.data.output', 'Hello World')] })
  s.eval('count = 1 return count', { expect: [eq('Output.data.output', 1)] })
  s.eval('count = count + 1 return count', { expect: [eq('Output.data.output', 2)] })
  s.eval("print('printed line') return 'after print'")
  s.eval('return {1, 2, 3}')
  s.eval('return Name', { expect: [eq('Output.data.output', 'differential-1')] })
  commonEvals(s, out)
  commonErrors(s, out)
  s.eval("return string.rep('abc', 50000)", { expect: [{ path: 'Output.data.output', size: 150000 }] })
  s.eval(`Send({Target = '${PEER}', Action = 'Ping', Data = 'hello'}) return 'sent'`,
    { expect: [len('Messages', 1), eq('Messages.0.Target', PEER), eq('Messages.0.Data', 'hello')] })
  s.eval(`for i = 1, 3 do Send({Target = '${PEER2}', Action = 'Batch', Data = 'n' .. i, Index = tostring(i)}) end return 'three'`,
    { expect: [len('Messages', 3)] })
  s.eval(`Send({Target = '${PEER}', Action = 'Transfer', Quantity = 5, Tags = {Memo = 'm'}}) return 'numeric'`)
  s.eval(`local tags = {} for i = 1, 50 do tags['Tag-' .. i] = 'value-' .. i end Send({Target = '${PEER}', Action = 'ManyTags', Tags = tags}) return 'many'`)
  s.eval(`Spawn('${CHILD_MODULE}', {Data = 'child data', Name = 'kid'}) return 'spawned'`, { expect: [len('Spawns', 1)] })
  s.eval(`Spawn('${CHILD_MODULE}', {}) return 'spawned 2'`, { expect: [len('Spawns', 1)] })
  s.eval(`Send({Target = '${PEER}', Action = 'Lost'}) error('send then fail')`, { error: true })
  s.eval(`Assign({Processes = {'${PEER}'}, Message = '${id('m')}'})`, { error: true, expect: [has('Error', 'Assign')] })

  const pushed = (tags, data = '', from = PEER) => ({ tags, data, from, owner: MU })
  s.eval(String.raw`
local match = Handlers.utils.hasMatchingTag
Handlers.add('ping', match('Action', 'Ping'), function(msg)
  Send({Target = msg.From, Action = 'Pong', Data = 'pong: ' .. (msg.Data or '')})
  print('ponged')
end)
Handlers.add('count', match('Action', 'Count'), function(msg)
  Counter = (Counter or 0) + tonumber(msg.Amount)
  print('Counter = ' .. Counter)
end)
Handlers.add('bad', match('Action', 'Bad'), function(msg)
  Counter = -1000
  error('handler boom')
end)
Handlers.add('big', match('Action', 'Big'), function(msg)
  Send({Target = msg.From, Action = 'Size', Data = tostring(#msg.Data)})
end)
Handlers.add('tags', match('Action', 'TagCount'), function(msg)
  local n = 0 for _ in pairs(msg.Tags) do n = n + 1 end
  print('tags: ' .. n .. ' T-7=' .. tostring(msg['T-7']))
end)
Handlers.add('continue', function(msg) return msg.Action == 'Chain' and 1 or 0 end,
  function(msg) Chain = (Chain or '') .. 'a' end)
Handlers.add('chain-end', match('Action', 'Chain'), function(msg) Chain = Chain .. 'b' print('chain ' .. Chain) end)
return #Handlers.list`)
  s.add({ ...pushed({ Action: 'Ping' }, 'are you there?'),
    expect: [len('Messages', 1), eq('Messages.0.Target', PEER), eq('Messages.0.Data', 'pong: are you there?')] })
  s.add({ ...pushed({ Action: 'Count', Amount: '5' }), expect: [has('Output.data', 'Counter = 5')] })
  s.add({ ...pushed({ Action: 'Count', Amount: '37' }), expect: [has('Output.data', 'Counter = 42')] })
  s.add({ ...pushed({ Action: 'Bad' }), error: true, expect: [has('Error', 'handler boom')] })
  s.eval('return Counter', { expect: [eq('Output.data.output', 42)] })
  const big = filler(120 * 1024, 17)
  s.add({ ...pushed({ Action: 'Big' }, big), expect: [len('Messages', 1), eq('Messages.0.Data', String(big.length))] })
  s.eval(`local s = "${filler(105 * 1024, 19)}" return #s`, { expect: [eq('Output.data.output', 105 * 1024)] })
  s.add({ ...pushed({ Action: 'Unhandled', Note: 'to inbox' }, filler(100 * 1024 + 3, 23)) })
  s.eval('return J(#Inbox, #Inbox[#Inbox].Data)')
  const many = [['Action', 'TagCount']]
  for (let i = 0; i < 120; i++) many.push([`T-${i}`, `value ${i}`])
  s.add({ ...pushed(many), expect: [has('Output.data', 'tags: ')] })
  s.add({ ...pushed({ Action: 'Chain' }), expect: [has('Output.data', 'chain ab')] })
  s.add({ tags: { Action: 'Ping' }, data: 'no trust check in aos 1', from: STRANGER, owner: OTHER, expect: [len('Messages', 1)] })
  s.add({ tags: { Action: 'Eval' }, data: "Owner = 'hijacked' return 1", from: OTHER, owner: OTHER })
  s.eval("return Owner == '" + OWNER + "'", { expect: [eq('Output.data.output', true)] })
  s.eval('return 40 + 2', { expect: [eq('Output.data.output', 42)] })
  return s
}

// ---------------------------------------------------------------------------------------------
// counter-wasm32.wasm: echo / inc / Random / Assignment only.
function counter () {
  const PID = id('counter-process')
  const s = new Sequence('counter', PID)
  s.add({
    id: PID,
    extra: { Module: MODULE },
    tags: [['Data-Protocol', 'ao'], ['Variant', 'ao.TN.1'], ['Type', 'Process'], ['Module', MODULE], ['Action', 'echo']],
    data: 'process message',
    expect: [eq('Output', 'process message')]
  })
  let count = 0
  const inc = () => { count++; s.add({ tags: { Action: 'inc' }, expect: [eq('Output', count)] }) }
  const echo = (data, extraTags = {}) => s.add({
    tags: { Action: 'echo', ...extraTags },
    data,
    expect: [data.length > 1000 ? { path: 'Output', size: data.length } : eq('Output', data)]
  })
  inc(); inc(); inc()
  echo('hello')
  echo('')
  echo('h\u00e9llo \u2713 \u65e5\u672c \ud83d\ude00')
  echo('quotes " and \\ backslashes \n newlines \t tabs')
  echo('{"json":"looking","n":[1,2,3]}')
  for (let i = 0; i < 10; i++) inc()
  s.add({ tags: { Action: 'Assignment' }, expect: [len('Output', 2), eq('Output.0.Message', 'mid-1'), eq('Output.1.Message', 'mid-2')] })
  inc()
  echo(filler(120 * 1024, 29))
  inc()
  echo(filler(200 * 1024, 31))
  for (let i = 0; i < 5; i++) s.add({ tags: { Action: 'Random' } })
  const many = { Action: 'echo' }
  for (let i = 0; i < 100; i++) many[`Tag-${i}`] = `v${i}`
  echo('many tags', many)
  for (let i = 0; i < 10; i++) {
    inc()
    echo(`echo ${i} ${'z'.repeat(i * 37)}`)
  }
  s.add({ tags: { Action: 'Assignment' }, expect: [len('Output', 2)] })
  s.add({ tags: [['Action', 'inc'], ['Action', 'echo']], data: 'last Action tag wins', expect: [eq('Output', 'last Action tag wins')] })
  inc()
  s.add({ tags: { Action: 'inc' }, from: OTHER, owner: OTHER, expect: [eq('Output', ++count)] })
  return s
}

const written = [aos2(), aos1(), counter()].map((s) => s.write())
for (const w of written) process.stdout.write(`${w.name}.jsonl: ${w.messages} messages, ${w.bytes} bytes\n`)
