// Regenerates vectors.json from the real encoders (not run by go test):
//
//   npm install clevertap-web-sdk@2.5.2 lz-string@1.5.0
//   node genvectors.js node_modules > vectors.json
//
// "ct" is the web SDK's own compressToBase64 (cut out of its bundle), "lz"
// is modern lz-string's. Inputs are seeded pseudo-random, so the file is
// stable across runs.
const fs = require('fs');
const path = require('path');
const dir = path.resolve(process.argv[2] || 'node_modules');
const bundle = fs.readFileSync(path.join(dir, 'clevertap-web-sdk/clevertap.js'), 'utf8');
const from = bundle.indexOf('const compress = uncompressed =>');
const to = bundle.indexOf('const getURLParams = url =>');
const ct = new Function(bundle.slice(from, to) + '; return {compress, compressToBase64};')();
const lz = require(path.join(dir, 'lz-string'));

let seed = 42;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const pick = (s) => s[rnd(s.length)];
const words = ['Email', 'Phone', 'evtName', 'evtData', '__proto__', 'Charged', 'jane.doe@example.com',
  '+14155550123', 'Ünïcødé', '日本語', '😀', 'https://shop.example/p?q=1&email=a%40b.c', '"quoted"', '\\'];
const inputs = ['', '{}', 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '__proto__', '__proto____proto____proto__',
  '{"__proto__":{"__proto__":1}}', 'ABABABABABABABAB', '\u00ff\u0100\u7fff\uffff', '😀😀😀'];
for (let i = 0; i < 150; i++) {
  let s = '';
  const kind = i % 5;
  const n = rnd(kind === 4 ? 300 : 120);
  for (let j = 0; j < n; j++) {
    switch (kind) {
      case 0: s += String.fromCharCode(32 + rnd(95)); break; // printable ASCII
      case 1: s += String.fromCharCode(rnd(0xd800)); break; // BMP without surrogates
      case 2: s += pick(words); break; // repetitive words
      case 3: s += pick('ab_'); break; // tiny alphabet: deep dictionary
      default: s += pick(words) + String.fromCharCode(32 + rnd(95));
    }
  }
  if (kind === 2 || kind === 4) s = JSON.stringify({type: 'event', evtName: 'x', evtData: {k: s}});
  inputs.push(s);
}
const out = inputs.map((s) => ({in: s, ct: ct.compressToBase64(s), lz: lz.compressToBase64(s)}));
process.stdout.write(JSON.stringify(out, null, 0).replace(/\},\{/g, '},\n{') + '\n');
