// enet demo: the heartbeat + locate demo of examples/demo.ts, on loopback.
import { parseArgs } from 'node:util'
import { EnetError } from '../errors.ts'

export async function demoCommand(argv: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({ args: argv, strict: true, options: { ttl: { type: 'string', default: '1500' }, secret: { type: 'string' } } }))
  } catch (err) {
    throw new EnetError('ENET_ERR_CLI', [`demo: ${(err as Error).message}`])
  }
  const ttlMs = Number(values.ttl)
  if (!Number.isInteger(ttlMs) || ttlMs < 100 || ttlMs > 5_000) throw new EnetError('ENET_ERR_CLI', [`--ttl: expected milliseconds from 100 to 5000, got "${values.ttl}"`])
  const { runDemo } = await import('../../examples/demo.ts')
  // With a secret (or ENET_SECRET), nodes sign their beats and answers (docs/auth.md).
  return runDemo({ ttlMs, secret: values.secret ?? process.env.ENET_SECRET })
}
