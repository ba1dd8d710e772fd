#!/usr/bin/env node
// Usage: node verify-items.mjs [--flips] FILE...
//
// Verifies raw ANS-104 data item files with the real @dha-team/arbundles library, using the same
// call the MU uses on `POST /` (`DataItem.verify(buffer)`), and prints ONE JSON object to stdout:
//
//   {"results":[{"file","valid":bool,"id":string|null,"signatureType":number|null,
//                "flips":{"tried":n,"accepted":[{"pos":i,"xor":"0x01"|"0xff"},...]}}]}
//
// `id` and `signatureType` are what arbundles reads from the bytes (null if it cannot). With
// `--flips`, every byte position is tried with XOR 0x01 and with XOR 0xFF; `accepted` lists the
// variants arbundles still verifies (a variant that throws counts as rejected). Without
// `--flips` the `flips` key is omitted.
//
// Known arbundles leniencies the caller should expect in `accepted` (see arbundles DataItem.verify):
//  * a presence byte != 1 means "absent", so XOR 0xFF on the presence byte of an ABSENT
//    target/anchor (0 -> 0xFF) still verifies;
//  * EthereumSigner.verify drops the recovery byte v (signature[64]) before ecdsaVerify, so any
//    change to it verifies (type 3 only);
//  * the tag-count check is skipped when the header count is 0, and the count is not signed, so a
//    flip that turns the count into 0 (1 ^ 0x01, 255 ^ 0xFF) verifies.

import { readFileSync } from 'node:fs'
import { DataItem } from '@dha-team/arbundles'

const args = process.argv.slice(2)
const flips = args.includes('--flips')
const files = args.filter((a) => a !== '--flips')
if (files.length === 0 || files.some((f) => f.startsWith('--'))) {
  console.error('usage: node verify-items.mjs [--flips] FILE...')
  process.exit(2)
}

// arweave-js' node crypto driver console.warn()s a three-line notice for every failed RSA
// verification; with --flips that is thousands of lines of noise on stderr. Nothing else in
// this script uses console.warn (errors go through console.error).
console.warn = () => {}

async function verifies(buf) {
  try {
    return (await DataItem.verify(buf)) === true
  } catch {
    return false
  }
}

function describe(buf) {
  try {
    const item = new DataItem(buf)
    return { id: item.id, signatureType: item.signatureType }
  } catch {
    return { id: null, signatureType: null }
  }
}

async function main() {
  const results = []
  for (const file of files) {
    const raw = readFileSync(file)
    const valid = await verifies(Buffer.from(raw))
    const { id, signatureType } = describe(Buffer.from(raw))
    const result = { file, valid, id: valid ? id : (id ?? null), signatureType }
    if (flips) {
      const accepted = []
      let tried = 0
      const variant = Buffer.from(raw)
      for (let pos = 0; pos < raw.length; pos++) {
        for (const [mask, label] of [[0x01, '0x01'], [0xff, '0xff']]) {
          variant[pos] = raw[pos] ^ mask
          tried++
          // DataItem keeps a reference to the buffer; hand each check its own copy so nothing
          // cached or mutated can leak between variants.
          if (await verifies(Buffer.from(variant))) accepted.push({ pos, xor: label })
        }
        variant[pos] = raw[pos]
      }
      result.flips = { tried, accepted }
    }
    results.push(result)
  }
  process.stdout.write(JSON.stringify({ results }) + '\n')
}

main().catch((err) => {
  console.error('verify-items.mjs failed:', err?.stack ?? err)
  process.exit(1)
})
