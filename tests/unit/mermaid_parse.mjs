// Read Mermaid files with Mermaid's own parser, as the note tools do.
//
// usage: node mermaid_parse.mjs NODE_MODULES FILE...
// NODE_MODULES holds the npm packages mermaid (11) and jsdom (a DOM for its
// sanitizer). Prints one JSON line per file: {"file", "ok", "error"} and, for
// a sequence diagram, what Mermaid understood: "title", "actors" as
// [id, description] and "messages" as {from, to, type, message}, with the
// entity codes (#59; ...) decoded as the renderer decodes them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, ...files] = process.argv.slice(2);
const load = (pkg, entry) => import(pathToFileURL(join(root, pkg, entry)).href);
const { JSDOM } = await load('jsdom', 'lib/api.js');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const pkg = JSON.parse(readFileSync(join(root, 'mermaid', 'package.json'), 'utf8'));
const { default: mermaid } = await load('mermaid', pkg.module ?? 'dist/mermaid.core.mjs');
mermaid.initialize({ startOnLoad: false });

// Mermaid swaps "#60;" for a placeholder before parsing and back when drawing.
const decode = (text) => String(text)
  .replace(/ﬂ°°(\d+)¶ß/g, (_, code) => String.fromCharCode(Number(code)))
  .replace(/ﬂ°(\w+)¶ß/g, (_, name) => `&${name};`);

for (const file of files) {
  const out = { file, ok: false };
  try {
    const text = readFileSync(file, 'utf8');
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    out.type = diagram.type;
    const db = diagram.db;
    if (typeof db.getMessages === 'function') {
      out.title = db.getDiagramTitle();
      out.actors = [...db.getActors().entries()].map(([id, a]) => [id, decode(a.description)]);
      out.messages = db.getMessages().map((m) => ({
        from: m.from, to: m.to, type: m.type, message: decode(m.message),
      }));
    }
    out.ok = true;
  } catch (err) {
    out.error = String(err?.message ?? err);
  }
  console.log(JSON.stringify(out));
}
