// The transpiling worker's script (transpiler.ts starts it). Plain CommonJS,
// so it runs the same whether the core runs from its TypeScript sources or
// from dist/ (scripts/build.mjs copies it there).
//
// A request names a file; the worker transforms it, and the local TypeScript
// files it imports, into jiti's fsCache, where the main thread's jiti then
// finds them. It transforms with sucrase where sucrase gives what jiti's babel
// would (fastTransform), and with jiti's babel everywhere else.
//
// Why: babel costs 4-10 ms of CPU per save even off the main thread, and on a
// small machine that CPU comes out of the server's. The reload bench
// (bench/reload.ts) puts the worst 25 ms window of a save under load at 67 %
// of steady throughput with babel and 79-83 % with sucrase, which takes
// about 0.5 ms.
//
// Where sucrase is used and still differs from babel (the rules below do not
// look for these, all rare in a plugin): an anonymous default class or
// function is named '' (babel: '_default'); an exported function or class
// declaration assigned again later keeps its first value for importers; the
// order of the export object's keys.
'use strict'
const { readFileSync } = require('node:fs')
const { fileURLToPath, pathToFileURL } = require('node:url')
const { Script } = require('node:vm')
const { isMainThread, parentPort, workerData } = require('node:worker_threads')

// What sucrase is not trusted with, each with how to spot it in the source.
// A false alarm (the words in a comment or a string) only costs babel's time.
const RULES = [
  // CommonJS, and jiti's own names: sucrase's imports come out as require(),
  // which become jitiImport() here.
  ['CommonJS', /\b(?:require|exports|jitiImport|jitiESMResolve)\b|\bexport\s*=|\bimport\s+[\w$]+\s*=/],
  // jiti's babel rewrites these; sucrase leaves them as they are.
  ['import.meta or import()', /\bimport\s*(?:\.\s*meta\b|\()/],
  ['a namespace', /\bnamespace\b|\bmodule\s+[\w$.'"]+\s*\{|\bdeclare\s+(?:module|global)\b/],
  // sucrase assigns an export where it stands, babel first thing: in a cycle
  // of local files the other side would see it missing. A file that imports
  // no local file is in no cycle.
  ['a local import', /\bfrom\s*['"]\.|\bimport\s*['"]\./],
  // A removed type-only line joins the line after it to the one before
  // (sucrase issue #645): `type T = 1` then `;(f)()`, `(f)()` or `[a] = b`.
  ['a line that continues the one before', /^[ \t]*[-+([`;]/m],
  // Exports sucrase writes where they stand, or in a way babel does not.
  ['export * or a destructuring export', /\bexport\s*\*|\bexport\s+(?:const|let|var)\s*[{[]/],
  // `export var a` declared again: sucrase exports the first value.
  ['export var', /\bexport\s+var\b/],
  // A member set from a template literal gets a reverse mapping it should not have.
  ['an enum with a template literal', /\benum\b[^}]{0,1000}`/],
  // `export { x }` above `const x`: sucrase reads x there, before it exists.
  ['export { } of local names', /\bexport\s*(?:type\s*)?\{[^}]{0,1000}\}(?!\s*from\b)/],
  // The import-order check below would not see such an import.
  ['a comment inside an import', /\bimport\s*\/[*/]/],
  // Nor an import whose braces run past BRACE's 1,000 characters.
  ['an import of over 1,000 characters', /\b(?:import|export)\s*(?:type\s*)?\{[^}]{1000}/],
]
// An import or export-from declaration (a statement jiti's babel hoists, and
// sucrase leaves where it stands). Linear where it can be: each run of
// spaces has one \s* to match it (three in a row took cubic time), and a
// brace is looked for within BRACE characters, not to the end of the file.
// IMPORT's quote is group 1, EXPORT_FROM's group 2 where both stand together.
const BRACE = String.raw`\{[^}]{0,1000}\}`
const IMPORT = String.raw`import\s*(?:type\s+)?(?:[\w$]+\s*(?:,\s*)?)?(?:${BRACE}\s*|\*\s*as\s+[\w$]+\s*)?(?:from\s*)?(['"])[^'"\n]*\1`
const EXPORT_FROM = String.raw`export\s*(?:type\s*)?(?:\*(?:\s*as\s+[\w$]+)?\s*|${BRACE}\s*)from\s*(['"])[^'"\n]*\2`
/** The first words of what sucrase wrote. */
const SUCRASE_MARK = '/* enet: sucrase */'
/** Larger sources go to babel: the checks below stay well under a second. */
const MAX_SOURCE = 256 * 1024
// The head of a file: blanks, comments, and import declarations only.
const HEAD = new RegExp(String.raw`(?:\s+|//[^\n]*|/\*[\s\S]*?\*/|(?:${IMPORT}|${EXPORT_FROM})\s*;?)*`, 'y')
// An import declaration anywhere (not `x.import`, not part of a longer name).
const ANY_IMPORT = new RegExp(String.raw`(?<![\w$.])(?:${IMPORT}|${EXPORT_FROM})`)

/**
 * Why sucrase cannot stand in for babel on this source, or null when it can.
 * Imports must also all come first: jiti's babel hoists them above the
 * module's code (as ESM does), sucrase evaluates them where they stand.
 */
function babelOnly(source) {
  if (source.length > MAX_SOURCE) return `over ${MAX_SOURCE} characters`
  for (const [why, re] of RULES) if (re.test(source)) return why
  HEAD.lastIndex = 0
  HEAD.exec(source)
  if (ANY_IMPORT.test(source.slice(HEAD.lastIndex))) return 'an import after code'
  return null
}

/**
 * jiti's `transform` option: sucrase where it gives what jiti's babel gives,
 * else `babel(opts)` (jiti's own transform). Sucrase's imports become
 * `await jitiImport()`, as jiti's babel writes them in async mode, so a
 * dependency with top-level await, or an ESM-only package, loads the same.
 * The result is compiled (not run) in jiti's wrapper first: a construct
 * sucrase passes through (a decorator) fails there and goes to babel. Only
 * async (import) output: jitiImport() needs await. The worker's jiti has
 * jiti's defaults (interop on, no source maps), as sucrase's output assumes.
 */
function fastTransform(sucrase, babel) {
  return (opts) => {
    if (opts.async && babelOnly(opts.source) === null) {
      try {
        const { code } = sucrase(opts.source, { transforms: ['typescript', 'imports'], filePath: opts.filename, disableESTransforms: true })
        // The mark tells which transform wrote a cache entry (the tests read it); it adds no line.
        const jitiCode = `${SUCRASE_MARK} ${code.replace(/\brequire\(/g, 'await jitiImport(')}`
        new Script(`(async function (exports, require, module, __filename, __dirname, jitiImport, jitiESMResolve) { ${jitiCode}\n});`, { filename: opts.filename })
        return { code: jitiCode }
      } catch {}
    }
    return { code: babel(opts) }
  }
}

function serve({ jitiPath, base, cacheDir, nice, sucrase }) {
  // Linux keeps a nice value per thread: this lowers the worker alone, so on a
  // busy machine the event loop keeps its CPU and the worker runs in what is left.
  try {
    require('node:os').setPriority(nice)
  } catch {}
  const { createJiti } = require(jitiPath)
  let transform
  if (sucrase) {
    const babel = createJiti(base, { moduleCache: false, fsCache: false })
    transform = fastTransform(require('sucrase').transform, (opts) => babel.transform(opts))
  }
  const jiti = createJiti(base, { moduleCache: false, fsCache: cacheDir, transform })
  const TS = /\.[cm]?tsx?$/
  // Local imports of jiti's async (import) output: jitiImport("./x.ts"), require("../y").
  const LOCAL = /\b(?:jitiImport|require)\(\s*(["'])(\.{1,2}\/[^"']+)\1\s*\)/g
  parentPort.on('message', ({ id, file }) => {
    const files = []
    const seen = new Set()
    const visit = (f) => {
      if (seen.has(f) || !TS.test(f) || f.includes('/node_modules/')) return
      seen.add(f)
      let source
      try {
        source = readFileSync(f, 'utf8')
      } catch {
        return
      }
      let code
      try {
        code = jiti.transform({ filename: f, source, ts: true, async: true, jsx: false })
      } catch {
        return
      }
      files.push(f)
      for (const m of code.matchAll(LOCAL)) {
        try {
          visit(fileURLToPath(jiti.esmResolve(m[2], { parentURL: pathToFileURL(f).href })))
        } catch {}
      }
    }
    visit(file)
    parentPort.postMessage({ id, files })
  })
}

module.exports = { babelOnly, fastTransform, SUCRASE_MARK }
if (!isMainThread && workerData?.enetTranspiler) serve(workerData.enetTranspiler)
