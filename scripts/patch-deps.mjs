// Replaces files of installed dependencies with the patched copies in patches/<package>@<version>/, after every
// `npm ci` / `npm install` (package.json "postinstall"). patches/patches.json names each file with the SHA-256 of
// upstream's copy: a file is replaced only when it is exactly upstream's, so nothing else is ever overwritten; one
// that is already patched is left alone. A file that is neither, or an installed version the patch was not written
// for, is reported and left as it is (the dependency still works, only unpatched); test/build/patched-dependencies
// fails in that case, so an upgrade cannot drop a patch unnoticed. Why each patch exists: patches/README.md.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const { patches } = JSON.parse(readFileSync(join(root, 'patches', 'patches.json'), 'utf8'));

let problems = 0;
for (const p of patches) {
  const what = `${p.package}@${p.version} ${p.file}`;
  const installedDir = join(root, 'node_modules', p.package);
  let installedVersion;
  try {
    installedVersion = JSON.parse(readFileSync(join(installedDir, 'package.json'), 'utf8')).version;
  } catch {
    console.warn(`patch-deps: ${p.package} is not installed; ${what} not applied`);
    problems++;
    continue;
  }
  if (installedVersion !== p.version) {
    console.warn(`patch-deps: ${p.package}@${installedVersion} is installed, the patch is for ${p.version}; ${what} not applied (port or drop patches/${p.package}@${p.version})`);
    problems++;
    continue;
  }
  const target = join(installedDir, p.file);
  const source = join(root, 'patches', `${p.package}@${p.version}`, p.file);
  let patched;
  try {
    patched = readFileSync(source);
  } catch {
    console.warn(`patch-deps: ${source} is missing; ${what} not applied`);
    problems++;
    continue;
  }
  const current = readFileSync(target);
  if (current.equals(patched)) continue;
  if (sha256(current) !== p.upstreamSha256) {
    console.warn(`patch-deps: ${target} is neither upstream's nor patched (sha256 ${sha256(current)}); ${what} not applied`);
    problems++;
    continue;
  }
  // Whole or not at all: an interrupted install leaves upstream's file, never half of each.
  writeFileSync(`${target}.patch-deps-tmp`, patched);
  renameSync(`${target}.patch-deps-tmp`, target);
  console.log(`patch-deps: patched ${what} (patches/README.md)`);
}
if (problems > 0) console.warn(`patch-deps: ${problems} patch(es) not applied; the dependencies work unpatched, only slower`);
