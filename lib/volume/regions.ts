// Regions: which protection a path gets. A region is a path prefix (whole components) and a kind;
// the longest prefix that matches wins; a volume is `encrypted` where no region says otherwise.
import { invalidArgument } from '../file/errors.js';
import { isWithin, normalizeVolumePath, parentOf, ROOT, baseName } from './volume-path.js';

export const REGION_KINDS = ['encrypted', 'authenticated', 'not-protected'] as const;
export type RegionKind = (typeof REGION_KINDS)[number];

export interface Region {
  path: string;
  kind: RegionKind;
}

/** Parses the CLI form `<path>:<kind>`, e.g. `/usr/lib:authenticated`. */
export function parseRegion(spec: string): Region {
  const cut = spec.lastIndexOf(':');
  if (cut <= 0) throw invalidArgument(`a region is <path>:<kind> (kind: ${REGION_KINDS.join(', ')}), got '${spec}'`);
  return checkRegion({ path: spec.slice(0, cut), kind: spec.slice(cut + 1) as RegionKind });
}

export function checkRegion(region: Region): Region {
  if (typeof region !== 'object' || region === null || typeof region.path !== 'string') {
    throw invalidArgument('a region is { path, kind }');
  }
  if (!REGION_KINDS.includes(region.kind)) {
    throw invalidArgument(`region kind must be one of ${REGION_KINDS.join(', ')}, got '${String(region.kind)}'`);
  }
  return { path: normalizeVolumePath(region.path, 'region'), kind: region.kind };
}

export class RegionTable {
  readonly regions: readonly Region[];

  constructor(regions: readonly Region[]) {
    const checked = regions.map(checkRegion);
    const seen = new Set<string>();
    for (const region of checked) {
      if (seen.has(region.path)) throw invalidArgument(`region '${region.path}' is given twice`);
      seen.add(region.path);
    }
    // Longest first, so the first match is the longest prefix.
    this.regions = checked.sort((a, b) => b.path.length - a.path.length);
  }

  kindOf(path: string): RegionKind {
    for (const region of this.regions) if (isWithin(path, region.path)) return region.kind;
    return 'encrypted';
  }

  /** Names of not-protected region roots directly inside `directory` (they live on disk, not in the manifest). */
  passThroughNamesIn(directory: string): string[] {
    return this.regions
      .filter((r) => r.kind === 'not-protected' && r.path !== ROOT && parentOf(r.path) === directory &&
        this.kindOf(directory) !== 'not-protected')
      .map((r) => baseName(r.path));
  }
}
