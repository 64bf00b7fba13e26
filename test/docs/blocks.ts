// Fenced code blocks of the Markdown docs, with the check comment before each
// (the convention is described at the top of test/docs/code-blocks.test.ts).
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))

export const KINDS = ['plugin', 'config', 'client', 'typecheck', 'commands', 'session', 'members', 'pinned', 'file'] as const
export type Kind = (typeof KINDS)[number]

export interface Block {
  /** Repo-relative Markdown file. */
  doc: string
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  text: string
  /** Null when the block has no check comment before it; may be a kind the test does not know. */
  kind: string | null
  /** `key=value` / `key="a value"` pairs and bare `flag` words (value ''); a repeated key keeps every value. */
  args: Record<string, string[]>
  /** The check comment as written, for messages. */
  comment: string | null
}

/** README.md, SECURITY.md and docs/*.md. */
export function docFiles(): string[] {
  const docs = readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`)
  return ['README.md', 'SECURITY.md', ...docs]
}

const CHECK = /^<!--\s*check:\s*(\S+)(.*?)\s*-->$/
const ARG = /(\w[\w-]*)(?:=(?:"([^"]*)"|(\S+)))?/g

export function parseBlocks(doc: string, markdown = readFileSync(join(REPO, doc), 'utf8')): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(\S*)\s*$/.exec(lines[i]!)
    if (!open) continue
    const fence = open[1]!
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !lines[i]!.startsWith(fence); i++) body.push(lines[i]!)
    let prev = start - 1
    while (prev >= 0 && lines[prev]!.trim() === '') prev--
    const m = prev >= 0 ? CHECK.exec(lines[prev]!.trim()) : null
    const args: Record<string, string[]> = {}
    for (const a of m?.[2]?.matchAll(ARG) ?? []) (args[a[1]!] ??= []).push(a[2] ?? a[3] ?? '')
    blocks.push({
      doc,
      line: start + 1,
      lang: open[2]!,
      text: body.join('\n') + '\n',
      kind: m ? m[1]! : null,
      args,
      comment: m ? lines[prev]!.trim() : null,
    })
  }
  return blocks
}

export const where = (b: Block) => `${b.doc}:${b.line}`

/** A plugin block's place in a project, from its first line `// plugins/NAME/index.ts`. */
export const pluginPath = (b: Block) => /^\/\/ (plugins\/[\w-]+\/index\.ts)\s*$/.exec(b.text.split('\n')[0]!)?.[1]
