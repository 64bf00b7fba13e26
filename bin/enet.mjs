#!/usr/bin/env node
// The enet CLI: TypeScript sources run through jiti's loader, no build step.
import 'jiti/register'

// jiti's loader hands named exports of a .ts module over under `default`.
const mod = await import('../core/cli/index.ts')
const { main } = mod.main ? mod : mod.default
process.exitCode = await main(process.argv.slice(2))
