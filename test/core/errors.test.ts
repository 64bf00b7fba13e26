// The ENET_ERR_* registry kept honest (fastify's errors test): every code is
// raised somewhere, and every `new EnetError(code, [...])` in the source
// passes as many arguments as its message has %s.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { codes, EnetError, type ErrorCode } from '../../core/errors.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return path.endsWith('.ts') && !path.endsWith('core/errors.ts') ? [path] : []
  })
}

const files = [...sources(join(ROOT, 'core')), ...sources(join(ROOT, 'plugins'))].map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }))

/** The elements of an array literal's body, split at top-level commas (strings, templates and brackets respected). */
function topLevelItems(body: string): string[] {
  const items: string[] = []
  let depth = 0
  let quote: string | null = null
  let start = 0
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!
    if (quote) {
      if (ch === '\\') i++
      else if (ch === quote) quote = null
      else if (quote === '`' && ch === '$' && body[i + 1] === '{') {
        // A template's ${...} may hold commas: skip to its closing brace.
        let d = 0
        for (i++; i < body.length; i++) {
          if (body[i] === '{') d++
          else if (body[i] === '}' && --d === 0) break
        }
      }
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch
    else if ('([{'.includes(ch)) depth++
    else if (')]}'.includes(ch)) depth--
    else if (ch === ',' && depth === 0) {
      items.push(body.slice(start, i))
      start = i + 1
    }
  }
  const last = body.slice(start)
  if (last.trim() !== '') items.push(last)
  return items
}

/** Every `new EnetError('CODE', [ ... ]` with its literal argument array. */
function literalCalls(): Array<{ where: string; code: string; args: number }> {
  const out: Array<{ where: string; code: string; args: number }> = []
  for (const { path, text } of files) {
    for (const m of text.matchAll(/new EnetError\('(ENET_ERR_\w+)',\s*\[/g)) {
      // Find the matching ] of the argument array.
      let depth = 1
      let i = m.index! + m[0].length
      const from = i
      let quote: string | null = null
      for (; i < text.length && depth > 0; i++) {
        const ch = text[i]!
        if (quote) {
          if (ch === '\\') i++
          else if (ch === quote) quote = null
        } else if (ch === "'" || ch === '"' || ch === '`') quote = ch
        else if (ch === '[') depth++
        else if (ch === ']') depth--
      }
      const line = text.slice(0, m.index).split('\n').length
      out.push({ where: `${path}:${line}`, code: m[1]!, args: topLevelItems(text.slice(from, i - 1)).length })
    }
  }
  return out
}

describe('ENET_ERR_* codes', () => {
  it('every code in the table is raised somewhere in core/ or plugins/', () => {
    const unused = (Object.keys(codes) as ErrorCode[]).filter((code) => !files.some((f) => f.text.includes(`'${code}'`)))
    expect(unused).toEqual([])
  })

  it('every literal new EnetError(code, [...]) passes as many arguments as the message has %s', () => {
    const calls = literalCalls()
    expect(calls.length).toBeGreaterThan(20)
    const wrong = calls
      .map((c) => ({ ...c, want: (codes[c.code as ErrorCode]?.match(/%s/g) ?? []).length }))
      .filter((c) => c.args !== c.want)
      .map((c) => `${c.where} ${c.code}: ${c.args} arguments for ${c.want} %s`)
    expect(wrong).toEqual([])
  })

  it('an EnetError carries its code, the filled-in message and the cause', () => {
    const cause = new Error('disk on fire')
    const e = new EnetError('ENET_ERR_CONFIG_LOAD', ['/x/enet.config.ts', 'no such file'], { cause })
    expect(e).toBeInstanceOf(Error)
    expect(e).toMatchObject({ name: 'EnetError', code: 'ENET_ERR_CONFIG_LOAD', message: 'cannot load config /x/enet.config.ts: no such file', cause })
  })
})
