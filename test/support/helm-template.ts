// Renders a chart directory with Go's text/template and Sprig set up as Helm sets them up
// (test/support/helm-gotemplate/main.go), built here from Debian's Go packages. goTemplateUnavailable()
// says why it cannot be built (tests skip with that; CI installs the packages and requires it).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./helm-gotemplate', import.meta.url));
const SPRIG = '/usr/share/gocode/src/github.com/Masterminds/sprig';
const PACKAGES = 'golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev';

export function goTemplateUnavailable(): string | null {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) return `go is not installed (Debian: apt-get install -y ${PACKAGES})`;
  if (!existsSync(SPRIG)) return `Sprig is not installed (Debian: apt-get install -y ${PACKAGES})`;
  return null;
}

/** Builds the renderer once in `work` (a directory of the caller's); returns a function rendering a chart directory with given values. */
export function goTemplateRenderer(work: string): (chartDir: string, values: unknown, release: string) => Record<string, string> {
  const binary = join(work, 'helm-gotemplate');
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: SOURCE,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: join(work, 'cache'), GOFLAGS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return (chartDir, values, release) => {
    const valuesFile = join(work, 'values.json');
    writeFileSync(valuesFile, JSON.stringify(values));
    return JSON.parse(execFileSync(binary, [chartDir, valuesFile, release], { encoding: 'utf8' })) as Record<string, string>;
  };
}
