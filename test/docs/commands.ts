// Child processes for the doc checks: the enet CLI (dev entry), npm scripts,
// and the static checks of a `commands` block's lines.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { REPO } from './blocks.ts'

/** The CLI entry the tests spawn (TypeScript sources, no build). */
export const ENET_BIN = join(REPO, 'bin/enet.mjs')

export interface Run {
  child: ChildProcess
  out: string
  err: string
  exit: Promise<number | null>
}

export function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; detached?: boolean }): Run {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached })
  const r: Run = { child, out: '', err: '', exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) }
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (r.out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (r.err += s))
  return r
}

/** Waits for the exit code; kills the process (group) and throws after `ms`. */
export async function finish(r: Run, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      kill(r, 'SIGKILL')
      reject(new Error(`${what}: still running after ${ms} ms\nstdout: ${r.out}\nstderr: ${r.err}`))
    }, ms)
  })
  try {
    return await Promise.race([r.exit, late])
  } finally {
    clearTimeout(timer)
  }
}

export function kill(r: Run, signal: NodeJS.Signals): void {
  if (r.child.exitCode !== null || r.child.signalCode !== null || r.child.pid === undefined) return
  try {
    // A detached child leads its own group: npm and the node it started both get the signal.
    process.kill(-r.child.pid, signal)
  } catch {
    r.child.kill(signal)
  }
}

/** Resolves once stdout has a line matching `re`; rejects if the process exits first or after `ms`. */
export function waitLine(r: Run, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms\nstdout: ${r.out}\nstderr: ${r.err}`)), ms)
    const check = () => {
      if (re.test(r.out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    r.child.stdout!.on('data', check)
    r.child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited (${code}) before a line matching ${re}\nstdout: ${r.out}\nstderr: ${r.err}`))
    })
    check()
  })
}

/**
 * A long-running server command: start it on loopback port 0, wait for its
 * listening line, stop it with SIGINT; it must exit 0.
 */
export async function startAndStop(cmd: string, args: string[]): Promise<void> {
  const env = { ENET_TCP: '127.0.0.1:0', ENET_UDP: '127.0.0.1:0', PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}` }
  const r = run(cmd, args, { cwd: REPO, env, detached: true })
  try {
    await waitLine(r, /enet listening tcp 127\.0\.0\.1:\d+ udp 127\.0\.0\.1:\d+/, 15_000)
  } finally {
    kill(r, 'SIGINT')
  }
  const code = await finish(r, 15_000, `${cmd} ${args.join(' ')}`)
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code} after SIGINT\nstderr: ${r.err}`)
}

const scripts = (): Record<string, string> => JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts

/** Every .ts source beside `file`: where the flags it takes are spelled out. */
function sourcesBeside(file: string): string {
  const dir = dirname(join(REPO, file))
  return readdirSync(dir)
    .filter((f) => /\.(ts|mjs)$/.test(f))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
}

function flagsKnown(flags: string[], source: string, what: string): void {
  for (const f of flags) {
    const name = f.replace(/^--(no-)?/, '').split('=')[0]!
    if (!new RegExp(`['"\`-]${name}['"\`:=\\s]|\\b${name}:`).test(source)) throw new Error(`${what}: flag ${f} appears nowhere in its sources`)
  }
}

const started = new Map<string, Promise<void>>()
const helpOf = new Map<string, Promise<string>>()

/** `enet CMD --help`: exit 0 and the help text. */
export function enetHelp(command: string): Promise<string> {
  let p = helpOf.get(command)
  if (!p) {
    p = (async () => {
      const r = run(process.execPath, [ENET_BIN, command, '--help'], { cwd: REPO })
      const code = await finish(r, 20_000, `enet ${command} --help`)
      if (code !== 0) throw new Error(`enet ${command} --help exited ${code}: ${r.err}`)
      return r.out
    })()
    helpOf.set(command, p)
  }
  return p
}

/**
 * One command of a `commands` block, checked without running what is long or
 * recursive: the npm script, file or enet command exists and knows every flag
 * shown; `npm start` is started and stopped.
 */
export async function checkCommand(line: string): Promise<void> {
  const words = line
    .replace(/[[\]]/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
  while (words.length && /^[A-Z_]+=/.test(words[0]!)) words.shift()
  const flags = words.filter((w) => w.startsWith('--') && w !== '--')
  const [a, b, c] = words
  const s = scripts()
  if (a === 'npm' && b === 'ci') {
    if (!existsSync(join(REPO, 'package-lock.json'))) throw new Error('npm ci: no package-lock.json')
  } else if (a === 'npm' && (b === 'test' || b === 'start' || b === 'run')) {
    const name = b === 'run' ? c! : b
    const script = s[name]
    if (!script) throw new Error(`${line}: package.json has no script "${name}"`)
    if (name === 'start') {
      let p = started.get(line)
      // The script itself, as npm runs it: npm would die of the SIGINT before its child's exit code.
      if (!p) started.set(line, (p = startAndStop('bash', ['-c', `exec ${script}`])))
      await p
    }
    const entry = /\S+\.(?:ts|mjs)\b/.exec(script.replace(/^node (\S+ )*bin\/run\.mjs /, ''))?.[0]
    if (flags.length) {
      if (!entry) throw new Error(`${line}: cannot tell which file takes the flags of "${script}"`)
      flagsKnown(flags, sourcesBeside(entry), line)
    }
  } else if (a === 'node' && b === 'bin/run.mjs') {
    if (!c || !existsSync(join(REPO, c))) throw new Error(`${line}: no file ${c}`)
    flagsKnown(flags, sourcesBeside(c), line)
  } else if ((a === 'npx' && b === 'enet') || a === 'enet') {
    const command = a === 'enet' ? b : c
    if (!command) throw new Error(`${line}: no enet command`)
    if (command.startsWith('-')) {
      // enet --version, enet --help: run as shown.
      const r = run(process.execPath, [ENET_BIN, ...words.slice(a === 'enet' ? 1 : 2)], { cwd: REPO })
      if ((await finish(r, 20_000, line)) !== 0) throw new Error(`${line}: exit code not 0: ${r.err}`)
      return
    }
    const help = await enetHelp(command)
    for (const f of flags) if (!help.includes(f)) throw new Error(`${line}: enet ${command} --help does not list ${f}:\n${help}`)
  } else if (a === 'npx' && b === 'vitest' && c === 'run') {
    for (const f of words.slice(3)) if (!f.startsWith('-') && !existsSync(join(REPO, f))) throw new Error(`${line}: no test file ${f}`)
  } else {
    throw new Error(`${line}: the commands check does not know how to verify this; use another check kind`)
  }
}

/** The commands of a shell block: comments dropped, `a && b` split. */
export function commandsOf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#\s.*$/, '').trim())
    .filter(Boolean)
    .flatMap((l) => l.split('&&').map((x) => x.trim()))
}
