#!/usr/bin/env node
// Runs a TypeScript entry file through jiti's loader: `node bin/run.mjs FILE.ts [args]`.
import 'jiti/register'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const [file, ...rest] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bin/run.mjs FILE.ts [args...]')
  process.exit(2)
}
process.argv = [process.argv[0], resolve(file), ...rest]
await import(pathToFileURL(resolve(file)).href)
