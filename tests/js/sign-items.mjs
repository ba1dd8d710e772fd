#!/usr/bin/env node
// Usage: node sign-items.mjs OUTDIR
//
// Signs ANS-104 data items with the real @dha-team/arbundles library (the one the MU and
// aoconnect use) and writes them to OUTDIR as raw `<name>.bin` files plus a `manifest.json`
// describing what each item must decode to. The Rust side (node/tests/arbundles_interop.rs)
// parses every file with aolink's ANS-104 code and compares it with the manifest.
//
// Signers: ArweaveSigner (type 1, fresh 4096-bit JWK from arweave-js), EthereumSigner (type 3,
// random secp256k1 key), SolanaSigner (type 2, plain ed25519 over the raw deep hash) and
// HexSolanaSigner (type 4, ed25519 over the lowercase hex text of the deep hash).
//
// Prints nothing but errors; exits non-zero on failure.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import Arweave from 'arweave'
import {
  createData,
  DataItem,
  ArweaveSigner,
  EthereumSigner,
  SolanaSigner,
  HexSolanaSigner
} from '@dha-team/arbundles'

const outDir = process.argv[2]
if (!outDir || process.argv.length !== 3) {
  console.error('usage: node sign-items.mjs OUTDIR')
  process.exit(2)
}

const b64url = (buf) => Buffer.from(buf).toString('base64url')

// Minimal base58 (bitcoin alphabet) encoder: arbundles' SolanaSigner takes the 64-byte Solana
// secret key (32-byte seed ‖ 32-byte public key) as a base58 string.
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
function base58(bytes) {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'))
  let out = ''
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = '1' + out
  }
  return out
}

// A fresh ed25519 key as (seed, public key), via node's crypto so the public key really belongs
// to the seed (SolanaSigner does not derive it; it trusts the second half of the secret key).
function ed25519Keypair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url')
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')
  if (seed.length !== 32 || pub.length !== 32) throw new Error('unexpected ed25519 key sizes')
  return { seed, pub }
}

async function makeSigners() {
  const arweave = Arweave.init({})
  const jwk = await arweave.wallets.generate()

  let ethKey
  do {
    ethKey = randomBytes(32)
  } while (ethKey.every((b) => b === 0))

  const sol = ed25519Keypair()
  const hexSol = ed25519Keypair()

  const signers = [
    { name: 'arweave', expectedType: 1, signer: new ArweaveSigner(jwk) },
    { name: 'ethereum', expectedType: 3, signer: new EthereumSigner(ethKey.toString('hex')) },
    {
      name: 'solana',
      expectedType: 2,
      signer: new SolanaSigner(base58(Buffer.concat([sol.seed, sol.pub]))),
      pub: sol.pub
    },
    {
      name: 'hexsolana',
      expectedType: 4,
      signer: new HexSolanaSigner(base58(Buffer.concat([hexSol.seed, hexSol.pub]))),
      pub: hexSol.pub
    }
  ]
  for (const s of signers) {
    if (s.signer.signatureType !== s.expectedType) {
      throw new Error(`${s.name}: arbundles signer has signatureType ${s.signer.signatureType}, expected ${s.expectedType}`)
    }
    if (s.pub && !Buffer.from(s.signer.publicKey).equals(s.pub)) {
      throw new Error(`${s.name}: signer public key does not match the generated key`)
    }
  }
  return signers
}

// The item shapes every signer signs. Each one exercises a different corner of the layout.
function itemSpecs() {
  const target = randomBytes(32)
  const rawAnchor = randomBytes(32) // arbitrary (non-UTF-8) anchor bytes
  const asciiAnchor = Buffer.from('00000000000000000000000000000042') // aos-style padZero32 anchor
  return [
    {
      // target + 32-byte anchor + several tags (empty value, duplicate names, non-ASCII, a value
      // longer than 64 bytes so the avro length needs two varint bytes), non-ASCII data
      suffix: 'full',
      data: Buffer.from('héllo wörld — 你好, мир 🌍\n', 'utf8'),
      target,
      anchor: rawAnchor,
      tags: [
        { name: 'Data-Protocol', value: 'ao' },
        { name: 'Variant', value: 'ao.TN.1' },
        { name: 'Type', value: 'Message' },
        { name: 'Action', value: 'Ping' },
        { name: 'Empty-Value', value: '' },
        { name: 'Exclude', value: 'first' },
        { name: 'Exclude', value: 'second' },
        { name: 'Ünïcödé-名前', value: 'värde ✓ 🚀' },
        { name: 'Long-Value', value: 'x'.repeat(100) + 'ü'.repeat(40) }
      ]
    },
    {
      // no target, no anchor, zero tags, empty data (createData accepts '' and no options)
      suffix: 'bare',
      data: Buffer.alloc(0),
      target: null,
      anchor: null,
      tags: []
    },
    {
      // exactly one tag (a header tag count of 1 must not be confusable with 0), target but no
      // anchor, binary data
      suffix: 'onetag',
      data: randomBytes(300),
      target,
      anchor: null,
      tags: [{ name: 'Content-Type', value: 'application/octet-stream' }]
    },
    {
      // anchor but no target, one-byte data
      suffix: 'anchoronly',
      data: Buffer.from([0]),
      target: null,
      anchor: asciiAnchor,
      tags: [
        { name: 'Data-Protocol', value: 'ao' },
        { name: 'Type', value: 'Process' }
      ]
    }
  ]
}

async function main() {
  mkdirSync(outDir, { recursive: true })
  const signers = await makeSigners()
  const manifest = []

  for (const { name, signer } of signers) {
    for (const spec of itemSpecs()) {
      const opts = {}
      if (spec.target) opts.target = b64url(spec.target)
      if (spec.anchor) opts.anchor = spec.anchor // createData does Buffer.from(anchor): bytes pass through
      if (spec.tags.length) opts.tags = spec.tags
      const item = createData(spec.data, signer, opts)
      await item.sign(signer)
      const raw = Buffer.from(item.getRaw())

      // Self-check with arbundles' own verifier (the one the MU uses) before handing it to Rust.
      if (!(await DataItem.verify(raw))) throw new Error(`${name}-${spec.suffix}: arbundles does not verify its own item`)
      const reparsed = new DataItem(raw)
      if (reparsed.id !== item.id) throw new Error(`${name}-${spec.suffix}: id changed on re-parse`)
      if (!reparsed.rawData.equals(spec.data)) throw new Error(`${name}-${spec.suffix}: data mismatch`)
      if (JSON.stringify(reparsed.tags) !== JSON.stringify(spec.tags)) {
        throw new Error(`${name}-${spec.suffix}: tags mismatch: ${JSON.stringify(reparsed.tags)}`)
      }

      const file = `${name}-${spec.suffix}.bin`
      writeFileSync(join(outDir, file), raw)
      manifest.push({
        file,
        signer: name,
        signatureType: reparsed.signatureType,
        id: item.id,
        owner: reparsed.owner,
        target: spec.target ? b64url(spec.target) : null,
        anchor: spec.anchor ? b64url(spec.anchor) : null,
        tags: spec.tags,
        data: spec.data.toString('base64')
      })
    }
  }

  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify({ items: manifest }, null, 2) + '\n')
}

main().catch((err) => {
  console.error('sign-items.mjs failed:', err?.stack ?? err)
  process.exit(1)
})
