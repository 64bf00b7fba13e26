// npm run bench [-- FLAGS]: both benchmarks with the same flags, one after the other.
//   1. bench/index.ts  enet vs a plain Node echo (throughput, latency, idle memory)
//   2. bench/reload.ts reload figures (it runs the compiled bench/reload-run.ts under node --expose-gc)
//
// Flags: --quick reaches both parts. --only picks scenarios of part 1 and,
// with the name `reload`, part 2: `--only tcp64` runs tcp64 alone,
// `--only reload` the reload figures alone, `--only udp,reload` both. Every
// other flag (--rounds, --warmup, --measure, --settle, --accepts, --min-cpu, --no-pin,
// --fake-enet, --metrics, --cpu-prof) belongs to part 1, which rejects what it does
// not know; part 2 only ever receives --quick. When --only skips part 1, any
// such flag is an error here: nothing else would look at it.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const RUNNER = fileURLToPath(new URL('../bin/run.mjs', import.meta.url))
const INDEX = fileURLToPath(new URL('./index.ts', import.meta.url))
const RELOAD = fileURLToPath(new URL('./reload.ts', import.meta.url))

const USAGE = `usage: npm run bench -- [--quick] [--only tcp64,tcp4k,udp64,tcp1,accept,reload] [--rounds N] [--warmup MS] [--measure MS] [--settle MS] [--accepts N] [--min-cpu PCT] [--no-pin] [--fake-enet] [--metrics [--scrape-ms MS]] [--cpu-prof]
  runs bench/index.ts (enet vs plain) with these flags, then bench/reload.ts (compiled, under --expose-gc) with --quick if given.
  --only: scenario ids or prefixes for bench/index.ts; "reload" selects bench/reload.ts. Without --only both run in full.
  --cpu-prof: each server child of bench/index.ts writes a V8 CPU profile; the folder is printed at the end.
  Flags other than --quick and --only belong to bench/index.ts: with --only reload alone they are an error.
  npm run bench:reload -- [--quick] runs the reload part alone.`

const argv = process.argv.slice(2)
const indexArgs: string[] = []
let quick = false
let only: string[] | null = null
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!
  if (a === '-h' || a === '--help') {
    console.log(USAGE)
    process.exit(0)
  }
  if (a === '--quick') quick = true
  if (a === '--only' || a.startsWith('--only=')) {
    const list = a === '--only' ? argv[++i] : a.slice('--only='.length)
    only = [...(only ?? []), ...(list ?? '').split(',').map((s) => s.trim()).filter(Boolean)]
    if (!only.length) {
      console.error(`bench: --only expects a comma-separated list\n${USAGE}`)
      process.exit(2)
    }
    continue
  }
  indexArgs.push(a)
}
const runReload = only === null || only.includes('reload')
const indexOnly = only?.filter((s) => s !== 'reload') ?? null
const runIndex = indexOnly === null || indexOnly.length > 0
const partOneOnly = indexArgs.filter((a) => a !== '--quick')
if (!runIndex && partOneOnly.length) {
  const flags = partOneOnly.filter((a) => a.startsWith('-')).map((a) => a.replace(/=.*/, ''))
  console.error(`bench: ${(flags.length ? flags : partOneOnly).join(', ')}: only the enet-vs-plain part takes this, and --only reload skips it (run with -h for usage)`)
  process.exit(2)
}
if (indexOnly?.length) indexArgs.push('--only', indexOnly.join(','))

let current: ReturnType<typeof spawn> | null = null
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    current?.kill(sig)
    process.exitCode = 130
  })
}

function run(label: string, nodeFlags: string[], file: string, args: string[]): Promise<number> {
  console.log(`\n== ${label}: node ${[...nodeFlags, 'bin/run.mjs', `bench/${file.slice(file.lastIndexOf('/') + 1)}`, ...args].join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeFlags, RUNNER, file, ...args], { stdio: 'inherit' })
    current = child
    child.on('exit', (code, signal) => {
      current = null
      resolve(code ?? (signal ? 128 : 1))
    })
  })
}

const timings: string[] = []
let code = 0
if (runIndex) {
  const t0 = performance.now()
  code = await run('enet vs plain', [], INDEX, indexArgs)
  timings.push(`enet vs plain ${((performance.now() - t0) / 1000).toFixed(1)} s (exit ${code})`)
  // 2: a usage error; the reload part would run with flags the user did not mean.
  if (code === 2) process.exit(2)
}
if (runReload && process.exitCode !== 130) {
  const t0 = performance.now()
  const c = await run('reload', [], RELOAD, quick ? ['--quick'] : [])
  timings.push(`reload ${((performance.now() - t0) / 1000).toFixed(1)} s (exit ${c})`)
  code ||= c
}
console.log(`\nbench: ${timings.join('; ')}`)
process.exitCode ||= code
