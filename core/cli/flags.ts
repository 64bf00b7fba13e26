// One declaration per command: its flags feed node:util parseArgs and the
// --help text alike, so the help can never list a flag the parser refuses.
import { parseArgs } from 'node:util'
import { EnetError } from '../errors.ts'

export interface Flag {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Placeholder in the help: `--tcp HOST:PORT`. */
  value?: string
  help: string
  /** Shown as `(default: …)`; the parser does not fill it in (the config layers do). */
  default?: string
}

export interface Command {
  name: string
  /** After `enet NAME`: positionals and a short flag summary. */
  usage: string
  summary: string
  flags: Record<string, Flag>
  positionals?: boolean
}

const HELP: Flag = { type: 'boolean', short: 'h', help: 'print this help and exit' }

export function helpText(cmd: Command): string {
  const rows = Object.entries({ ...cmd.flags, help: HELP }).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.value ? ` ${f.value}` : ''}`
    const right = f.help + (f.multiple ? ' (repeatable)' : '') + (f.default !== undefined ? ` (default: ${f.default})` : '')
    return [left, right] as const
  })
  const width = Math.max(...rows.map(([l]) => l.length)) + 2
  return `usage: enet ${cmd.name} ${cmd.usage}\n\n${cmd.summary}\n\noptions:\n${rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join('\n')}\n`
}

/** The parseArgs options of a command, --help included. */
export function optionsOf(cmd: Command) {
  return Object.fromEntries(
    // parseArgs refuses keys present with the value undefined.
    Object.entries({ ...cmd.flags, help: HELP }).map(([name, f]) => [name, { type: f.type, ...(f.short && { short: f.short }), ...(f.multiple && { multiple: true }) }]),
  )
}

export type Parsed = { help: true } | { help: false; values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }

/** Parses `argv`, or says that --help was asked for; a mistake is ENET_ERR_CLI naming the command. */
export function parseCommand(cmd: Command, argv: string[]): Parsed {
  let parsed
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: cmd.positionals ?? false, options: optionsOf(cmd) })
  } catch (err) {
    // --help wins over any other mistake on the line, as with most CLIs.
    if (argv.includes('--help') || argv.includes('-h')) return { help: true }
    throw new EnetError('ENET_ERR_CLI', [`${cmd.name}: ${firstSentence(err)} (enet ${cmd.name} --help lists the options)`])
  }
  if (parsed.values.help) return { help: true }
  return { help: false, values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals }
}

export function firstSentence(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  // parseArgs appends a hint after the first sentence; one line is the contract.
  return msg.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '')
}
