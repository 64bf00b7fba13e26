// The transpiling worker's script (transpiler.ts starts it). Plain CommonJS,
// so it runs the same whether the core runs from its TypeScript sources or
// from dist/ (the build copies it there).
//
// A request names a file; the worker transforms it, and the local TypeScript
// files it imports, into jiti's fsCache, where the main thread's jiti then
// finds them. It transforms with sucrase where sucrase gives what jiti's babel
// would (fastTransform), and with jiti's babel everywhere else.
//
// Why: babel costs 4-10 ms of CPU per save even off the main thread, and on a
// small machine that CPU comes out of the server's (bench/reload.ts measured
// the worst 25 ms window of a save under load at 63-70 % of steady throughput
// with babel, 87 % with sucrase). Sucrase does the same in about 0.1 ms.
'use strict'
const { readFileSync } = require('node:fs')
const { fileURLToPath, pathToFileURL } = require('node:url')
const { Script } = require('node:vm')
const { isMainThread, parentPort, workerData } = require('node:worker_threads')

// What sucrase is not trusted with: CommonJS in the source (`require`,
// `export =`, `import x = require()`), what jiti's babel rewrites and sucrase
// leaves alone (`import.meta`, `import()`), TypeScript namespaces and global
// declarations, and jiti's own names. A false alarm (the word in a comment or
// a string) only costs babel's time.
const BABEL_ONLY = /\brequire\b|\bexport\s*=|\bimport\s*\.\s*meta\b|\bimport\s*\(|\bnamespace\b|\bmodule\s*\{|\bdeclare\s+(?:module|global)\b|\bjitiImport\b|\bjitiESMResolve\b/
// An import or export-from declaration (a statement jiti's babel hoists, and
// sucrase leaves where it stands).
const IMPORT = String.raw`import\s*(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*\s*as\s+[\w$]+)?\s*(?:from\s*)?(['"])[^'"\n]*\1`
const EXPORT_FROM = String.raw`export\s*(?:type\s*)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(['"])[^'"\n]*\2`
// The head of a file: blanks, comments, and import declarations only.
const HEAD = new RegExp(String.raw`(?:\s+|//[^\n]*|/\*[\s\S]*?\*/|(?:${IMPORT}|${EXPORT_FROM})\s*;?)*`, 'y')
// An import declaration anywhere (not `x.import`, not part of a longer name).
const ANY_IMPORT = new RegExp(String.raw`(?<![\w$.])(?:${IMPORT}|${EXPORT_FROM})`)

/**
 * Why sucrase cannot stand in for babel on this source, or null when it can.
 * Imports must all come first: jiti's babel hoists them above the module's
 * code (as ESM does), sucrase evaluates them where they stand.
 */
function babelOnly(source) {
  const word = BABEL_ONLY.exec(source)
  if (word) return `uses ${word[0]}`
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
 * sucrase passes through (a decorator) fails there and goes to babel.
 */
function fastTransform(sucrase, babel) {
  return (opts) => {
    if (opts.async && opts.ts && !opts.jsx && opts.interopDefault !== false && !opts.babel?.sourceMaps && babelOnly(opts.source) === null) {
      try {
        const { code } = sucrase(opts.source, { transforms: ['typescript', 'imports'], filePath: opts.filename, disableESTransforms: true })
        const jitiCode = code.replace(/\brequire\(/g, 'await jitiImport(')
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
  const babel = createJiti(base, { moduleCache: false, fsCache: false })
  const transform = sucrase ? fastTransform(require('sucrase').transform, (opts) => babel.transform(opts)) : undefined
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

module.exports = { babelOnly, fastTransform }
if (!isMainThread && workerData?.enetTranspiler) serve(workerData.enetTranspiler)
