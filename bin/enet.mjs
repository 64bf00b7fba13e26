#!/usr/bin/env node
// The enet CLI, compiled: `npm run build` (run by `npm ci` and `npm pack`) makes dist/.
import { main } from '../dist/core/cli/index.js'

process.exitCode = await main(process.argv.slice(2))
