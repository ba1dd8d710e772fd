// Calling an AO process from Solana through an aolink gateway (the memo convention v1), with
// @solana/web3.js 1.x. Any program can do the same: the call is an SPL Memo instruction whose
// text is `aolink:v1:` + JSON, in a transaction that carries the gateway's address as an extra
// read-only, non-signer account key.
import { Buffer } from 'buffer'
import {
  Connection,
  Keypair,
  Message,
  PublicKey,
  TransactionInstruction,
  VersionedTransaction
} from '@solana/web3.js'

/** SPL Memo v2. */
export const MEMO_PROGRAM = new PublicKey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr')

/** What a memo starts with to be a call (version 1 of the convention). */
export const PREFIX = 'aolink:v1:'

/** A call: the AO process (its 43-character id), its Action, and optional data and tags. */
export interface Call {
  process: string
  action: string
  data?: string
  /** Reach the process as `X-<name>` tags. */
  tags?: Record<string, string>
}

/** The memo text of a call. */
export function memoText(call: Call): string {
  const { process, action, data, tags } = call
  return PREFIX + JSON.stringify({ process, action, data, tags })
}

/**
 * The message of a call from `sender` (who signs the memo and pays the fee) through `gateway`.
 * The Memo program wants every account it is given to sign, so the gateway is not one of the
 * memo's accounts: it is appended to the message's keys as read-only and non-signing, where
 * `getSignaturesForAddress(gateway)` finds the transaction.
 */
export function callMessage(sender: PublicKey, gateway: PublicKey, call: Call, recentBlockhash: string): Message {
  const memo = new TransactionInstruction({
    programId: MEMO_PROGRAM,
    keys: [{ pubkey: sender, isSigner: true, isWritable: false }],
    data: Buffer.from(memoText(call), 'utf8')
  })
  const compiled = Message.compile({ payerKey: sender, recentBlockhash, instructions: [memo] })
  if (compiled.accountKeys.some((key) => key.equals(gateway))) {
    throw new Error(`the gateway ${gateway.toBase58()} is already an account of the call`)
  }
  // Read-only non-signer keys come last, so appending one keeps every instruction's indexes.
  return new Message({
    header: {
      ...compiled.header,
      numReadonlyUnsignedAccounts: compiled.header.numReadonlyUnsignedAccounts + 1
    },
    accountKeys: [...compiled.accountKeys, gateway],
    recentBlockhash,
    instructions: compiled.instructions
  })
}

/**
 * Sends a call and waits until it is confirmed; returns its signature. Confirmation is polled
 * over HTTP (getSignatureStatuses), so no WebSocket endpoint is needed.
 */
export async function sendCall(
  rpcUrl: string,
  sender: Keypair,
  gateway: PublicKey | string,
  call: Call
): Promise<string> {
  const connection = new Connection(rpcUrl, 'confirmed')
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash()
  const message = callMessage(sender.publicKey, new PublicKey(gateway), call, blockhash)
  const transaction = new VersionedTransaction(message)
  transaction.sign([sender])
  const signature = await connection.sendTransaction(transaction)
  for (;;) {
    const { value } = await connection.getSignatureStatuses([signature])
    const status = value[0]
    if (status?.err) {
      throw new Error(`call ${signature} failed: ${JSON.stringify(status.err)}`)
    }
    if (status?.confirmationStatus === 'confirmed' || status?.confirmationStatus === 'finalized') {
      return signature
    }
    if ((await connection.getBlockHeight()) > lastValidBlockHeight) {
      throw new Error(`call ${signature} expired before it was confirmed; send it again`)
    }
    await new Promise((resolve) => setTimeout(resolve, 400))
  }
}
